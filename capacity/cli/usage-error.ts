/**
 * Bad usage or invalid input: a missing or unreadable file, a YAML syntax error, an invalid value. The CLI
 * prints the message and the details (one per bad field) and exits 2, never with a stack trace.
 */
export class UsageError extends Error {
  override name = "UsageError";
  readonly details: string[];

  constructor(message: string, details: string[] = []) {
    super(message);
    this.details = details;
  }
}

/** `check` found findings of severity error; they are already printed. Exit 1. */
export class FindingsError extends Error {
  override name = "FindingsError";

  constructor(readonly errors: number) {
    super(`${errors} finding(s) of severity error`);
  }
}
