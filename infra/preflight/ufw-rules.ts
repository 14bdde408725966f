import type { PlainConfig } from "../config.js";
import { type HostRole, hardeningScripts } from "../host-scripts.js";
import { type PreflightRow, row } from "./row.js";

/**
 * A ufw rule as a command, without its comment and position: how `ufw show added` and the rendered script
 * both write it (`ufw insert 1 allow …` and `ufw prepend allow …` are listed as `ufw allow …`).
 */
export function ruleKey(line: string): string {
  return line
    .trim()
    .replace(/\s+comment\s+(['"]).*\1\s*$/, "")
    .replace(/^ufw\s+/, "")
    .replace(/^(insert\s+[0-9]+|prepend)\s+/, "")
    .replace(/\s+/g, " ")
    .trim();
}

const RULE = /^ufw\s+((insert\s+[0-9]+|prepend)\s+)?(allow|deny|reject|limit)\s/;

/** The rules the program's UFW script writes on a host (the rendered script itself, so they cannot drift). */
export function programUfwRules(config: PlainConfig, role: HostRole): string[] {
  const scripts = hardeningScripts(config, { role, swapMB: 1024, runsRedis: role === "automation" });
  const ufw = scripts.find((s) => s.name === "ufw")?.script ?? "";
  return ufw
    .split("\n")
    .filter((line) => RULE.test(line.trim()))
    .map(ruleKey);
}

/**
 * The UFW row of a host from `ufw status` (first line) and `ufw show added`: rules the program does not
 * write stay after the deploy (the program adds its rules, it never deletes), so each is named with the
 * command that removes it. Not installed, or only the program's rules: ok.
 */
export function ufwRow(host: string, probe: string, programRules: readonly string[]): PreflightRow {
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
    .filter((line) => RULE.test(line.trim()))
    .map(ruleKey)
    .filter((rule) => !wanted.has(rule));
  const state = active ? "active" : "inactive";
  if (foreign.length === 0) {
    return row("ufw", host, "ok", `${state}, no rules besides the deploy's ${programRules.length}`);
  }
  return row(
    "ufw",
    host,
    "warn",
    `${state}; ${foreign.length} rule(s) the deploy does not write and will not remove: ${foreign.map((r) => `"${r}"`).join(", ")}`,
    `remove each you no longer need: ${foreign.map((r) => `ufw delete ${r}`).join("; ")}`,
  );
}
