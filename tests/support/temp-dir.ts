import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Creates a fresh private directory under the system temp dir, named `tapbot-<purpose>-XXXXXX`. */
export function makeTempDir(purpose: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `tapbot-${purpose}-`));
}

/** Removes a directory made by {@link makeTempDir} and everything in it; a missing directory is fine. */
export function removeTempDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
