import type { PlainConfig } from "../config.js";
import { mergeDaemonJson } from "../render/docker-daemon.js";
import { type PreflightRow, row } from "./row.js";

/** What the probe prints when the host has no daemon.json. */
export const DAEMON_JSON_ABSENT = "#absent";

function flatten(value: unknown, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) {
      for (const [k, v] of flatten(inner, prefix === "" ? key : `${prefix}.${key}`)) out.set(k, v);
    }
  } else out.set(prefix, JSON.stringify(value));
  return out;
}

/**
 * daemon.json against what the deploy makes of it ({@link mergeDaemonJson}, with the stack's log settings):
 * the owner's settings are kept, the program's set, the old file backed up. Lists what changes and what is
 * added; an owner's log option the program's `log-opts` replaces is listed as dropped (a warning). A file
 * that is not a JSON object blocks: the deploy stops on it.
 */
export function dockerDaemonRow(
  host: string,
  current: string,
  config: Pick<PlainConfig, "dockerLogMaxSize" | "dockerLogMaxFile">,
): PreflightRow {
  const options = { logMaxSize: config.dockerLogMaxSize, logMaxFile: config.dockerLogMaxFile };
  if (current.trim() === DAEMON_JSON_ABSENT) {
    const written = [...flatten(mergeDaemonJson(undefined, options))].map(([k, v]) => `${k} ${v}`);
    return row("daemon.json", host, "ok", `none; the deploy writes ${written.join(", ")}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(current);
  } catch (error) {
    return row(
      "daemon.json",
      host,
      "block",
      `/etc/docker/daemon.json is not valid JSON (${(error as Error).message})`,
      "fix or remove it by hand: the deploy merges its settings into it and stops on a file it cannot read",
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return row(
      "daemon.json",
      host,
      "block",
      "/etc/docker/daemon.json is not a JSON object",
      "fix or remove it by hand: the deploy merges its settings into it and stops on a file it cannot read",
    );
  }
  const have = flatten(parsed);
  const wanted = flatten(mergeDaemonJson(parsed as Record<string, unknown>, options));
  const changed = [...wanted]
    .filter(([k, v]) => have.has(k) && have.get(k) !== v)
    .map(([k, v]) => `${k} ${have.get(k)} → ${v}`);
  const added = [...wanted].filter(([k]) => !have.has(k)).map(([k, v]) => `${k} ${v}`);
  const dropped = [...have].filter(([k]) => !wanted.has(k)).map(([k, v]) => `${k} ${v}`);
  if (changed.length + added.length + dropped.length === 0) {
    return row("daemon.json", host, "ok", "already what the deploy writes");
  }
  const parts = [
    dropped.length > 0 ? `dropped: ${dropped.join(", ")}` : "",
    changed.length > 0 ? `changed: ${changed.join(", ")}` : "",
    added.length > 0 ? `added: ${added.join(", ")}` : "",
  ].filter((p) => p !== "");
  const found = `the deploy merges its settings into /etc/docker/daemon.json (the rest kept, the old file backed up beside it) and restarts dockerd; ${parts.join("; ")}`;
  return row(
    "daemon.json",
    host,
    dropped.length > 0 ? "warn" : "ok",
    found,
    dropped.length > 0
      ? "note the dropped log options: the deploy's log-opts replace the old driver's; put back any you still need after the deploy"
      : "",
  );
}
