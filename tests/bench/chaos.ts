import { createWriteStream } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { faultKinds, runChaosSoak } from "./chaos-soak.js";

/**
 * `npm run bench:chaos [-- --requests 1000 --users 40 --seed 7 --fault-every 4 --fault-rounds 3 --app-log /tmp/chaos.log]`:
 * the chaos soak at full size (see chaos-soak.ts), printing its table for the closing note. With
 * `--fault-rounds N` every fault kind happens exactly N times and the users keep sending until the last one
 * is over (so there may be more requests than asked). Exit 1 when any request was lost, unanswered,
 * answered twice or billed twice.
 */
const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    users: { type: "string", default: "40" },
    seed: { type: "string", default: "7" },
    "fault-every": { type: "string", default: "4" },
    "fault-rounds": { type: "string" },
    "app-log": { type: "string" },
  },
});
const number = (name: keyof typeof values): number => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${name} must be a whole number ≥ 1; got ${values[name]}\n`);
    process.exit(2);
  }
  return value;
};

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const loadBefore = load();
const appLog = values["app-log"] === undefined ? undefined : createWriteStream(values["app-log"]);
const result = await runChaosSoak({
  requests: number("requests"),
  users: number("users"),
  seed: number("seed"),
  faultEveryMs: number("fault-every") * 1000,
  ...(values["fault-rounds"] === undefined ? {} : { faultRounds: number("fault-rounds") }),
  log: (line) => {
    process.stdout.write(`  ${line}\n`);
    appLog?.write(`${new Date().toISOString()} soak ${line}\n`);
  },
  ...(appLog ? { onAppLog: (name: string, line: string) => appLog.write(`${name} ${line}\n`) } : {}),
});
const row = (label: string, value: string | number) =>
  `| ${label.padEnd(46)} | ${String(value).padStart(9)} |`;
const lines = [
  "",
  `chaos soak: ${result.requests} requests, ${values.users} users, seed ${values.seed}, a fault every ${values["fault-every"]} s${values["fault-rounds"] === undefined ? "" : ` (${values["fault-rounds"]} rounds of every kind)`}, ${result.seconds.toFixed(0)} s`,
  `load average before: ${loadBefore}; after: ${load()}`,
  "",
  row("outcome", "requests"),
  `|${"-".repeat(48)}|${"-".repeat(11)}|`,
  row("exactly one answer", result.answeredOnce),
  row("  of which the picture", result.delivered),
  row("  of which one clear failure message", result.failedClearly),
  row("lost (acknowledged, no answer)", result.lost),
  row("unanswered (not even acknowledged)", result.unanswered),
  row("duplicated (two answers or more)", result.duplicated),
  row("acknowledged twice", result.duplicateAcks),
  row("billed twice at fal", result.billedTwice),
  "",
  row("fault", "times"),
  `|${"-".repeat(48)}|${"-".repeat(11)}|`,
  ...faultKinds.map((kind) => row(kind, result.faults[kind])),
  "",
  ...(result.failedFaults.length > 0
    ? ["faults not injected as planned:", ...result.failedFaults.map((f) => `  ${f}`), ""]
    : []),
  ...(result.problems.length > 0
    ? [
        "requests not answered with exactly one picture:",
        ...result.problems.map((p) => `  ${p.prompt}: ${p.verdict}\n    ${p.chat.join("\n    ")}`),
        "",
      ]
    : []),
  result.recordWindow === null
    ? "re-send window: no outcome recorded by the workers alive at the end"
    : `re-send window (Telegram's answer → first store), ${result.recordWindow.count} outcomes of the workers alive at the end: p50 ≤ ${result.recordWindow.p50Ms} ms, p99 ≤ ${result.recordWindow.p99Ms} ms, max ≤ ${result.recordWindow.maxMs} ms`,
  result.submitWindow === null
    ? "re-submit window: no submission recorded by the workers alive at the end"
    : `re-submit window (fal's answer → first store has the request id), ${result.submitWindow.count} submissions of the workers alive at the end: p50 ≤ ${result.submitWindow.p50Ms} ms, p99 ≤ ${result.submitWindow.p99Ms} ms, max ≤ ${result.submitWindow.maxMs} ms`,
];
process.stdout.write(`${lines.join("\n")}\n`);
process.exit(result.lost + result.unanswered + result.duplicated + result.billedTwice === 0 ? 0 : 1);
