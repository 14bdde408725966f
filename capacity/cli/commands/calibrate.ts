import { writeFileSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import { applyCalibration, type Plan, type PlanInput, parsePlanInput, plan } from "../../index.js";
import { learnFromProduction } from "../../production-calibration.js";
import { addInputOptions } from "../input-options.js";
import { loadInput } from "../load-input.js";
import { print } from "../output.js";
import { observeProduction, parseWindow } from "../prometheus-source.js";
import { parseVerbOptions } from "../verb-options.js";

const calibrateOptions = z.object({
  fromPrometheus: z.url({
    protocol: /^https?$/,
    error: "must be the http(s) base URL of a Prometheus server",
  }),
  since: z.string().default("7d"),
  out: z.string().min(1).optional(),
  json: z.boolean().default(false),
});

/** The figures of a plan the learned calibration would change, side by side. */
function comparison(before: Plan, after: Plan): [string, string, string][] {
  const limit = (p: Plan, name: string) =>
    p.hosts.flatMap((h) => h.services).find((s) => s.name === name)?.limitMB;
  const rows: [string, string, string][] = [
    ["bot limit", `${limit(before, "bot")} MB`, `${limit(after, "bot")} MB`],
    ["worker limit", `${limit(before, "worker")} MB`, `${limit(after, "worker")} MB`],
    [
      "workers × slots",
      `${before.workers} × ${before.workerConcurrency}`,
      `${after.workers} × ${after.workerConcurrency}`,
    ],
    [
      "fal slot held",
      `${before.provider.slotSeconds.toFixed(1)} s`,
      `${after.provider.slotSeconds.toFixed(1)} s`,
    ],
    ["fal limit needed", `${before.provider.neededConcurrency}`, `${after.provider.neededConcurrency}`],
  ];
  for (const host of before.hosts) {
    const now = after.hosts.find((h) => h.name === host.name);
    const pct = (u: number | undefined) => (u === undefined ? "—" : `${(100 * u).toFixed(1)} %`);
    rows.push([`RAM ${host.name}`, pct(host.utilization), pct(now?.utilization)]);
  }
  const binds = (p: Plan) => `${p.bottleneck.resource} at ${p.bottleneck.maxUsers} users`;
  rows.push(["binds first", binds(before), binds(after)]);
  return rows;
}

/**
 * `capacity calibrate --from-prometheus URL [--since 7d]`: the model learns from production. Reads the window
 * from the Prometheus the program deploys, turns it into a calibration (production-calibration.ts) and shows
 * the plan for the inputs now beside the plan with what production measured; `--out` writes the calibration
 * file for `--calibration` or a stack's `calibration:`.
 */
export function calibrateCommand(): Command {
  const command = new Command("calibrate")
    .description("learn the model's budgets from production's Prometheus and show what they would change")
    .option(
      "--from-prometheus <url>",
      "base URL of the Prometheus that scrapes the bot and the workers (required)",
    )
    .option(
      "--since <window>",
      "how far back to read, a Prometheus duration: 90s, 30m, 12h, 7d, 2w (default: 7d)",
    )
    .option("--out <file>", "also write the learned calibration as a JSON file")
    .option("--json", "print the observation, the calibration and both plans as JSON");
  return addInputOptions(command).action(async (options: Record<string, unknown>) => {
    const o = parseVerbOptions(calibrateOptions, {
      fromPrometheus: options.fromPrometheus,
      since: options.since,
      out: options.out,
      json: options.json,
    });
    const windowSeconds = parseWindow(o.since);
    const input: PlanInput = loadInput(options);
    const before = plan(input);
    const observed = await observeProduction(o.fromPrometheus, windowSeconds);
    const source = `production: ${o.fromPrometheus} over ${o.since} to ${new Date().toISOString()}`;
    const learned = learnFromProduction(observed, input, before.workerConcurrency, source);
    const after = plan(
      parsePlanInput({ ...applyCalibration(input, learned.calibration), ...learned.inputs }),
    );
    if (o.out !== undefined) writeFileSync(o.out, `${JSON.stringify(learned.calibration, null, 2)}\n`);
    if (o.json) {
      print(`${JSON.stringify({ observed, learned, before, after }, null, 2)}\n`);
      return;
    }
    const n = (v: number | null, digits: number, unit: string) =>
      v === null ? "no data" : `${v.toFixed(digits)}${unit}`;
    const lines = [
      `Production over ${o.since} (${o.fromPrometheus})`,
      `  RSS, most of any process   bot ${n(observed.botRssMB, 0, " MB")}, worker ${n(observed.workerRssMB, 0, " MB")}`,
      `  jobs delivered             ${n(observed.jobsDelivered, 0, "")}`,
      `  worker CPU per job         ${n(observed.workerCpuSecondsPerJob, 4, " CPU s")}`,
      `  fal's time per job         ${n(observed.jobSeconds, 1, " s")}`,
      `  status polls per job       ${n(observed.pollsPerJob, 2, "")}`,
      `  requests accepted          ${n(observed.meanArrivalPerSecond, 3, "/s")} on average, ${n(observed.peakArrivalPerSecond, 3, "/s")} at the busiest stretch`,
      learned.impliedRequestsPerUserHour === null
        ? ""
        : `  at ${input.users} users that is ${learned.impliedRequestsPerUserHour.toFixed(2)} requests per user-hour (the plan assumes ${input.requestsPerUserHour}; not applied: set it if ${input.users} is production's user count)`,
      "",
      "What would change (the plan now → with what production measured)",
      ...comparison(before, after).map(
        ([what, now, then]) => `  ${what.padEnd(18)} ${now.padStart(22)} → ${then}`,
      ),
      "",
      `Learned inputs: ${JSON.stringify(learned.inputs)}; calibration ${o.out === undefined ? "not written (--out FILE writes it)" : `written to ${o.out}`}`,
    ];
    print(`${lines.filter((l, i) => l !== "" || i > 0).join("\n")}\n`);
  });
}
