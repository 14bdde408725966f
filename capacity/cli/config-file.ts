import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { firstDuplicateKey } from "../yaml-duplicate-key.js";
import { UsageError } from "./usage-error.js";

/** The key of the stack config that holds the capacity inputs. */
const STACK_KEY = "tapbot:capacity";

/** The largest input file the CLI reads: a config, a stack file or a calibration is a few kilobytes. */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;

/**
 * A file's text, read only when it is a regular file of at most {@link MAX_INPUT_FILE_BYTES}: a device
 * (`/dev/zero`), a FIFO or a huge file is refused before a byte is read, so a wrong path can neither hang the
 * CLI nor fill its memory. It is opened non-blocking (a FIFO put in its place after a check cannot block
 * the open) and judged by the descriptor's own stat. A missing, unreadable or refused file is a UsageError
 * naming `what` it was meant to be and why, never its content.
 */
export function readText(path: string, what: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${what} ${path}: ${code === "ENOENT" ? "no such file" : (code ?? "unreadable")}`,
    );
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw new UsageError(`cannot read ${what} ${path}: it is a directory`);
    if (!stat.isFile()) throw new UsageError(`cannot read ${what} ${path}: not a regular file`);
    if (stat.size > MAX_INPUT_FILE_BYTES) {
      throw new UsageError(
        `cannot read ${what} ${path}: ${stat.size} bytes, more than the ${MAX_INPUT_FILE_BYTES} bytes an input file may have`,
      );
    }
    // Bounded even if the file grows after the stat.
    const buffer = Buffer.alloc(MAX_INPUT_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > MAX_INPUT_FILE_BYTES) {
        throw new UsageError(
          `cannot read ${what} ${path}: more than the ${MAX_INPUT_FILE_BYTES} bytes an input file may have`,
        );
      }
    }
    return buffer.toString("utf8", 0, length);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      `cannot read ${what} ${path}: ${code === "EISDIR" ? "it is a directory" : (code ?? "unreadable")}`,
    );
  } finally {
    closeSync(fd);
  }
}

/**
 * Parses YAML (JSON is YAML too); a syntax error names the file, the line and the column, and a key given twice
 * in one mapping names the key (found in linear time, see firstDuplicateKey).
 */
function parseYaml(text: string, path: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false, prettyErrors: true });
  const [first] = doc.errors;
  if (first !== undefined) {
    // With prettyErrors the first line of the message says what and where ("... at line 3, column 1:").
    const [what = first.code, ...excerpt] = first.message.split("\n");
    throw new UsageError(
      `${path}: YAML syntax error: ${what.replace(/:$/, "")}`,
      excerpt.filter((l) => l.trim() !== ""),
    );
  }
  const duplicate = firstDuplicateKey(doc.contents, "");
  if (duplicate !== undefined) {
    throw new UsageError(`${path}: ${duplicate} is given twice; a key may appear once in a mapping`);
  }
  return doc.toJS();
}

function expectMapping(value: unknown, path: string, what: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UsageError(
      `${path}: ${what} must be a mapping of inputs (key: value); got ${value === null ? "nothing" : Array.isArray(value) ? "a list" : typeof value}`,
    );
  }
  return value as Record<string, unknown>;
}

/** The inputs of a `--config` file (YAML or JSON), as written. */
export function readConfigFile(path: string): Record<string, unknown> {
  const text = readText(path, "config file");
  return expectMapping(parseYaml(text, path), path, "the config file");
}

/** The `tapbot:capacity` object of `Pulumi.<stack>.yaml` in `dir`, and that file's path. */
export function readStackConfig(stack: string, dir: string): { path: string; raw: Record<string, unknown> } {
  const path = join(resolve(dir), `Pulumi.${stack}.yaml`);
  const file = parseYaml(readText(path, `the config of stack "${stack}",`), path);
  const config = expectMapping(file, path, "a stack file").config;
  const section =
    config !== null && typeof config === "object"
      ? (config as Record<string, unknown>)[STACK_KEY]
      : undefined;
  if (section === undefined) {
    throw new UsageError(`${path}: no "config: ${STACK_KEY}:" object; put the capacity inputs there`);
  }
  return { path, raw: expectMapping(section, path, `config.${STACK_KEY}`) };
}
