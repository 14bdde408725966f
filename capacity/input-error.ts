import type { z } from "zod";

/** One problem with the input: where (a dotted path such as `services[2].host`) and what is wrong. */
export interface InputIssue {
  path: string;
  message: string;
}

/**
 * Invalid model input. Each issue names the field, the value it had and what is allowed, so that the CLI can
 * print them as they are and the Pulumi program can fail with them before touching a server.
 */
export class CapacityInputError extends Error {
  override name = "CapacityInputError";
  readonly issues: InputIssue[];

  constructor(issues: InputIssue[]) {
    super(`invalid capacity input:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join("\n")}`);
    this.issues = issues;
  }
}

/** `["services", 2, "host"]` → `services[2].host`; the empty path is the input itself. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(input)" : out;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "a list";
  return "an object";
}

function bound(inclusive: boolean | undefined, below: boolean, limit: unknown): string {
  const op = below ? (inclusive ? "≤" : "<") : inclusive ? "≥" : ">";
  return `${op} ${String(limit)}`;
}

/** What the issue allows, in words a person can act on. */
function allowed(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.expected === "int"
        ? "a whole number"
        : `${/^[aeiou]/.test(issue.expected) ? "an" : "a"} ${issue.expected}`;
    case "too_small":
      return issue.origin === "array" || issue.origin === "string"
        ? `at least ${String(issue.minimum)} ${issue.origin === "array" ? "item(s)" : "character(s)"}`
        : `a number ${bound(issue.inclusive, false, issue.minimum)}`;
    case "too_big":
      return `a number ${bound(issue.inclusive, true, issue.maximum)}`;
    case "invalid_value":
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    default:
      return issue.message;
  }
}

/**
 * Turns zod's issues into InputIssues that name the offending value, looked up in the raw input (zod does not
 * keep it unless asked). Unknown keys get one issue each, at their own path.
 */
export function issuesFromZod(error: z.ZodError, raw: unknown): InputIssue[] {
  const out: InputIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        out.push({
          path: formatPath([...issue.path, key]),
          message: "unknown key; remove it or fix its spelling",
        });
      }
      continue;
    }
    const value = valueAt(raw, issue.path);
    // Custom issues come from checks across fields, which name the value themselves.
    const message =
      issue.code === "custom"
        ? issue.message
        : `${value === undefined ? "missing" : `got ${show(value)}`}; expected ${allowed(issue)}`;
    out.push({ path: formatPath(issue.path), message });
  }
  return out;
}
