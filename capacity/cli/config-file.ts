import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseDocument } from "yaml";
import { UsageError } from "./usage-error.js";

/** The key of the stack config that holds the capacity inputs. */
const STACK_KEY = "tapbot:capacity";

/** A file's text; a missing or unreadable file is a UsageError naming `what` it was meant to be. */
export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code;
    throw new UsageError(`cannot read ${what} ${path}: ${reason ?? "unreadable"}`);
  }
}

/** Parses YAML (JSON is YAML too); a syntax error names the file, the line and the column. */
function parseYaml(text: string, path: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const [first] = doc.errors;
  if (first !== undefined) {
    // With prettyErrors the first line of the message says what and where ("... at line 3, column 1:").
    const [what = first.code, ...excerpt] = first.message.split("\n");
    throw new UsageError(
      `${path}: YAML syntax error: ${what.replace(/:$/, "")}`,
      excerpt.filter((l) => l.trim() !== ""),
    );
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
