import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { isAbsolute } from "node:path";

/** Largest secret file read: a token, a key or a URL is far below it; anything bigger is the wrong file. */
export const SECRET_FILE_MAX_BYTES = 64 * 1024;

/** What {@link readSecretFiles} found: the values read from files, and every problem by variable. */
export interface SecretFiles {
  values: Record<string, string>;
  problems: string[];
}

/**
 * Reads `NAME_FILE` for each secret variable NAME, the convention of Docker secrets and of the official images
 * (POSTGRES_PASSWORD_FILE): the deploy puts each secret in a file only the app's user can read (0400), so it is
 * not in `docker inspect`, in the environment of every child process, or in /proc/<pid>/environ. The file
 * must be a regular file at an absolute path, at most {@link SECRET_FILE_MAX_BYTES}; one trailing newline
 * (what `echo` and editors add) is dropped. Setting both NAME and NAME_FILE is a problem, not a silent choice.
 * Problems name the variable and the path, never the content.
 */
export function readSecretFiles(env: NodeJS.ProcessEnv, names: readonly string[]): SecretFiles {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  for (const name of names) {
    const path = env[`${name}_FILE`];
    if (path === undefined || path === "") continue;
    const variable = `${name}_FILE`;
    if (env[name] !== undefined && env[name] !== "") {
      problems.push(
        `${name}, ${variable}: both are set; keep one (the file keeps the secret out of the environment)`,
      );
      continue;
    }
    if (!isAbsolute(path)) {
      problems.push(
        `${variable}: must be an absolute path, like /run/secrets/${name.toLowerCase()}; got ${path}`,
      );
      continue;
    }
    const read = readBounded(path);
    if (typeof read !== "string") {
      problems.push(`${variable}: cannot read ${path}: ${read.problem}`);
      continue;
    }
    const value = read.replace(/\r?\n$/, "");
    if (value === "") problems.push(`${variable}: ${path} is empty`);
    else values[name] = value;
  }
  return { values, problems };
}

/** The file's text, or why not: not a regular file, too big, or the system's error code. */
function readBounded(path: string): string | { problem: string } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    return { problem: (error as NodeJS.ErrnoException).code ?? "cannot open" };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { problem: "not a regular file" };
    if (stat.size > SECRET_FILE_MAX_BYTES) {
      return { problem: `${stat.size} bytes, more than a secret's ${SECRET_FILE_MAX_BYTES}` };
    }
    const buffer = Buffer.alloc(stat.size);
    let offset = 0;
    while (offset < buffer.length) {
      const n = readSync(fd, buffer, offset, buffer.length - offset, offset);
      if (n === 0) break;
      offset += n;
    }
    return buffer.subarray(0, offset).toString("utf8");
  } catch (error) {
    return { problem: (error as NodeJS.ErrnoException).code ?? "cannot read" };
  } finally {
    closeSync(fd);
  }
}
