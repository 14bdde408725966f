import type { PlainConfig } from "../config.js";
import { type HostRole, hardeningScripts } from "../host-scripts.js";
import { ruleKey, UFW_RULE_LINE } from "../render/ufw-script.js";
import { type PreflightRow, row } from "./row.js";

/** The rules the program's UFW script writes on a host (the rendered script itself, so they cannot drift). */
export function programUfwRules(config: PlainConfig, role: HostRole): string[] {
  const scripts = hardeningScripts(config, { role, swapMB: 1024, runsRedis: role === "automation" });
  const ufw = scripts.find((s) => s.name === "ufw")?.script ?? "";
  return ufw
    .split("\n")
    .filter((line) => UFW_RULE_LINE.test(line.trim()))
    .map(ruleKey);
}

/**
 * The UFW row of a host from `ufw status` (first line) and `ufw show added`: rules the program does not
 * write stay after the deploy unless `tapbot:removeForeignUfwRules` is true, so each is named with the
 * command that removes it (a warning), or as what the deploy will remove. Not installed, or only the
 * program's rules: ok.
 */
export function ufwRow(
  host: string,
  probe: string,
  programRules: readonly string[],
  removeForeign = false,
): PreflightRow {
  if (/ufw: not installed/.test(probe)) {
    return row(
      "ufw",
      host,
      "ok",
      `not installed; the deploy installs it, writes ${programRules.length} rules and enables it`,
    );
  }
  const active = /^Status: active/m.test(probe);
  const wanted = new Set(programRules);
  const foreign = probe
    .split("\n")
    .filter((line) => UFW_RULE_LINE.test(line.trim()))
    .map(ruleKey)
    .filter((rule) => !wanted.has(rule));
  const state = active ? "active" : "inactive";
  if (foreign.length === 0) {
    return row("ufw", host, "ok", `${state}, no rules besides the deploy's ${programRules.length}`);
  }
  const listed = foreign.map((r) => `"${r}"`).join(", ");
  if (removeForeign) {
    return row(
      "ufw",
      host,
      "ok",
      `${state}; the deploy removes ${foreign.length} rule(s) it does not write (tapbot:removeForeignUfwRules): ${listed}`,
    );
  }
  return row(
    "ufw",
    host,
    "warn",
    `${state}; ${foreign.length} rule(s) the deploy does not write and will not remove: ${listed}`,
    `remove each you no longer need: ${foreign.map((r) => `ufw delete ${r}`).join("; ")}; or set tapbot:removeForeignUfwRules true and the deploy removes them all`,
  );
}
