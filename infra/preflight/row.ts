/**
 * What one preflight check tells the owner: ok (nothing to do), warn (the deploy works, but read this) or
 * block (the first `pulumi up` would fail or hurt something: fix it first).
 */
export type PreflightStatus = "ok" | "warn" | "block";

/** One line of the preflight table. */
export interface PreflightRow {
  /** The check, short and stable (`os`, `ram`, `ports`, `telegram webhook`, …). */
  check: string;
  /** The host it looked at (`automation`, `data`), or the service for the API checks (`telegram`, `fal`). */
  host: string;
  status: PreflightStatus;
  /** What the check found, as a fact the owner can verify himself. Never a secret. */
  found: string;
  /** What to do about it; empty when nothing is to be done. */
  todo: string;
}

/** A row; `todo` defaults to nothing to do. */
export function row(
  check: string,
  host: string,
  status: PreflightStatus,
  found: string,
  todo = "",
): PreflightRow {
  return { check, host, status, found, todo };
}

/** Exit code of a preflight run: 1 when any row blocks the first deploy, 0 otherwise (warnings included). */
export function exitCodeOf(rows: readonly PreflightRow[]): 0 | 1 {
  return rows.some((r) => r.status === "block") ? 1 : 0;
}
