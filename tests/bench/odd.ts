import { createWriteStream } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { type OddSoakResult, runOddSoak } from "./odd-soak.js";

/**
 * `npm run bench:odd [-- --updates 10000 --seed 1 --mode both --app-log /tmp/odd.log]`: the odd-updates soak
 * (odd-soak.ts) in polling mode, then in webhook mode, each with its own bot process and stores, printing
 * one table for both. Exit 1 when a message went unanswered or was answered twice or with the apology, a
 * post got the wrong status, the bot logged an error or died, or its RSS after GC grew more than
 * `--rss-growth` MB (default 40) from the warm-up to the end.
 */
const { values } = parseArgs({
  options: {
    updates: { type: "string", default: "10000" },
    seed: { type: "string", default: "1" },
    mode: { type: "string", default: "both" },
    "rss-growth": { type: "string", default: "40" },
    "app-log": { type: "string" },
  },
});
const number = (name: "updates" | "seed" | "rss-growth"): number => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`--${name} must be a whole number ≥ 1; got ${values[name]}\n`);
    process.exit(2);
  }
  return value;
};
const modes = { both: ["polling", "webhook"], polling: ["polling"], webhook: ["webhook"] } as const;
if (!Object.hasOwn(modes, values.mode)) {
  process.stderr.write(`--mode must be polling, webhook or both; got ${values.mode}\n`);
  process.exit(2);
}
const rssGrowth = number("rss-growth");
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const loadBefore = load();
const appLog = values["app-log"] === undefined ? undefined : createWriteStream(values["app-log"]);
const results: OddSoakResult[] = [];
for (const mode of modes[values.mode as keyof typeof modes]) {
  process.stdout.write(`${mode}:\n`);
  results.push(
    await runOddSoak({
      mode,
      updates: number("updates"),
      seed: number("seed"),
      log: (line) => process.stdout.write(`  ${line}\n`),
      ...(appLog
        ? { onAppLog: (name: string, line: string) => appLog.write(`${mode} ${name} ${line}\n`) }
        : {}),
    }),
  );
}
appLog?.end();

const rows: [string, (r: OddSoakResult) => string | number][] = [
  ["cases sent", (r) => r.sent],
  ["  through Telegram (duplicates included)", (r) => r.throughTelegram],
  ["  raw posts to the webhook", (r) => r.posts],
  ["answers expected", (r) => r.answersExpected],
  ["answers got", (r) => r.answersGot],
  ["messages unanswered", (r) => r.unanswered],
  ["answered twice or unasked (duplicates)", (r) => r.duplicates],
  ["generic apologies", (r) => r.apologies],
  ["posts with the wrong status", (r) => r.wrongStatuses],
  ["errors logged by the bot", (r) => r.errorsLogged],
  ["RSS after warm-up, after GC (MB)", (r) => r.rssWarmupMB],
  ["RSS at the end, after GC (MB)", (r) => r.rssEndMB],
  ["V8 heap after warm-up / at the end (MB)", (r) => `${r.heapWarmupMB} / ${r.heapEndMB}`],
  ["bot alive at the end", (r) => (r.alive ? "yes" : "NO")],
  ["seconds", (r) => r.seconds.toFixed(0)],
];
const cell = (value: string | number) => String(value).padStart(11);
const lines = [
  "",
  `odd updates: ${values.updates} cases per mode, seed ${values.seed}; load average before: ${loadBefore}; after: ${load()}`,
  "",
  `| ${"".padEnd(42)} |${results.map((r) => ` ${cell(r.mode)} |`).join("")}`,
  `|${"-".repeat(44)}|${results.map(() => `${"-".repeat(13)}|`).join("")}`,
  ...rows.map(
    ([label, value]) => `| ${label.padEnd(42)} |${results.map((r) => ` ${cell(value(r))} |`).join("")}`,
  ),
  "",
  ...results.flatMap((r) =>
    r.problems.length === 0 ? [] : [`${r.mode} problems:`, ...r.problems.map((p) => `  ${p}`), ""],
  ),
];
process.stdout.write(`${lines.join("\n")}\n`);
const failed = results.some(
  (r) =>
    r.unanswered + r.duplicates + r.apologies + r.wrongStatuses + r.errorsLogged > 0 ||
    !r.alive ||
    r.rssEndMB - r.rssWarmupMB > rssGrowth,
);
process.exit(failed ? 1 : 0);
