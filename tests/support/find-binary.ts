import { access, constants, readdir } from "node:fs/promises";
import { delimiter, join } from "node:path";

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds an executable by name: first in `extraDirs` (in order), then on PATH. Throws naming every place
 * it looked and `hint` (how to install it), so that a missing package is obvious from the test output.
 */
export async function findBinary(
  name: string,
  extraDirs: readonly string[] = [],
  hint = "",
): Promise<string> {
  const pathDirs = (process.env.PATH ?? "").split(delimiter).filter((dir) => dir !== "");
  const dirs = [...extraDirs, ...pathDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  throw new Error(`${name} not found; looked in ${dirs.join(", ")}${hint === "" ? "" : `. ${hint}`}`);
}

/**
 * The `bin` directories of every installed PostgreSQL major version (Debian puts them in
 * /usr/lib/postgresql/<major>/bin, off PATH), newest first.
 */
export async function postgresBinDirs(root = "/usr/lib/postgresql"): Promise<string[]> {
  let majors: string[];
  try {
    majors = await readdir(root);
  } catch {
    return [];
  }
  return majors
    .filter((major) => /^\d+$/.test(major))
    .sort((a, b) => Number(b) - Number(a))
    .map((major) => join(root, major, "bin"));
}
