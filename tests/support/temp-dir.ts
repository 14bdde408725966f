import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onExitCleanup } from "./exit-cleanup.js";

/** Directories made here and not yet removed, each with the clean-up that removes it at exit. */
const live = new Map<string, () => void>();

/**
 * Creates a fresh private directory under the system temp dir, named `tapbot-<purpose>-XXXXXX`. It is
 * removed at exit if {@link removeTempDir} has not removed it before.
 */
export async function makeTempDir(purpose: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tapbot-${purpose}-`));
  live.set(
    dir,
    onExitCleanup(() => rmSync(dir, { recursive: true, force: true })),
  );
  return dir;
}

/** Removes a directory made by {@link makeTempDir} and everything in it; a missing directory is fine. */
export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  live.get(dir)?.();
  live.delete(dir);
}
