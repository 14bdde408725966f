import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";

/** Files outside app/ that the image build reads (npm ci, tsc -p tsconfig.build.json). */
export const BUILD_INPUTS = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
] as const;

/**
 * A short content hash of everything the app image is built from, used as its tag: the same sources give
 * the same tag (no rebuild, no container replaced), any change gives a new one.
 */
export function hashSources(files: { path: string; content: Buffer }[]): string {
  const hash = createHash("sha256");
  for (const file of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    hash.update(file.path).update("\0").update(file.content).update("\0");
  }
  return hash.digest("hex").slice(0, 16);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Reads app/ and the build inputs under `root` and hashes them. */
export async function appSourceHash(root: string): Promise<string> {
  const paths = [...(await listFiles(join(root, "app"))), ...BUILD_INPUTS.map((p) => join(root, p))];
  const files = await Promise.all(
    paths.map(async (path) => ({ path: relative(root, path), content: await readFile(path) })),
  );
  return hashSources(files);
}
