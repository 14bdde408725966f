import type { PlainConfig } from "../config.js";
import { renderDockerDaemonJson } from "../render/docker-daemon.js";
import { type PreflightRow, row } from "./row.js";

/** What the probe prints when the host has no daemon.json. */
export const DAEMON_JSON_ABSENT = "#absent";

/**
 * Keys whose loss moves Docker's state away: with another data-root or storage driver, dockerd starts
 * empty, and the old containers and volumes (the old bot's data) are no longer seen.
 */
const STATE_KEYS = new Set(["data-root", "graph", "storage-driver"]);

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
 * daemon.json against what the deploy writes (renderDockerDaemonJson, with the stack's log settings): the
 * deploy writes the whole file, so every setting of the owner's that is not in it is dropped, and each of
 * its own settings that differs is changed; both are listed. Dropping data-root or the storage driver blocks:
 * dockerd would start without the old containers and volumes.
 */
export function dockerDaemonRow(
  host: string,
  current: string,
  config: Pick<PlainConfig, "dockerLogMaxSize" | "dockerLogMaxFile">,
): PreflightRow {
  const wanted = flatten(
    JSON.parse(
      renderDockerDaemonJson({ logMaxSize: config.dockerLogMaxSize, logMaxFile: config.dockerLogMaxFile })
        .content,
    ),
  );
  const written = [...wanted].map(([k, v]) => `${k} ${v}`).join(", ");
  if (current.trim() === DAEMON_JSON_ABSENT) {
    return row("daemon.json", host, "ok", `none; the deploy writes ${written}`);
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
      "fix or remove it by hand: the deploy restarts dockerd when it writes its own",
    );
  }
  const have = flatten(parsed);
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
  const found = `the deploy rewrites /etc/docker/daemon.json and restarts dockerd; ${parts.join("; ")}`;
  if ([...have.keys()].some((k) => STATE_KEYS.has(k.split(".")[0] ?? ""))) {
    return row(
      "daemon.json",
      host,
      "block",
      found,
      "dockerd would start without the containers and volumes under the old data-root/storage driver: back up and move them (or keep the setting by hand) first",
    );
  }
  return row(
    "daemon.json",
    host,
    dropped.length > 0 ? "warn" : "ok",
    found,
    dropped.length > 0 ? "note the dropped settings: put back any you still need after the deploy" : "",
  );
}
