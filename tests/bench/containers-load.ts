/**
 * `npm run bench:containers [-- --users N ... --minutes m --seed s]`: issue 9 item 3, memory under load inside
 * the plan's limits. Deploys the Pulumi program's own containers (tests/containers/support/program-deployment.ts:
 * the prod plan's bots, workers, board, Redis and PostgreSQL on two real dockerd, behind the program's webhook
 * route in Caddy, fake Telegram and fake fal on the test host), then drives the load benchmark's arrivals
 * (Poisson at the model's peak rate for each user count, time-compressed as `bench:load` does) through the
 * webhooks, and prints per level and per container the cgroup's memory peak and its RSS against the plan's
 * limit, OOM kills and restarts, and how many requests were answered. Needs root (dockerd, network namespaces).
 * Not part of `npm test` or the containers lane.
 */

import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Message } from "grammy/types";
import { translate } from "../../app/i18n/index.js";
import {
  cgroupNumber,
  deployProgram,
  limitsOf,
  memoryCgroup,
  type ProgramDeployment,
  type StartedContainer,
} from "../containers/support/program-deployment.js";
import type { FakeUser } from "../support/fake-telegram.js";
import { sleep } from "../support/http-kit.js";
import { waitUntil } from "../support/wait-until.js";
import { greetUsers } from "./greet-users.js";
import { autoTimeFactor } from "./load-args.js";
import { predictLevel } from "./load-prediction.js";
import { poissonArrivals } from "./poisson-arrivals.js";
import { exponentialDraw, seededRandom } from "./seeded-random.js";

const USAGE = `Usage: sudo npm run bench:containers [-- --users N [--users M ...]] [--minutes m] [--seed s]

Deploys the program's containers for the prod plan (300 users) on two real dockerd and, per level, sends
requests through the webhook route as a Poisson process at the model's peak rate for N users (time-compressed:
fal job times ÷ f, arrivals × f, f the largest whole factor up to 10 that keeps them ≤ 5 requests/s, as
bench:load's auto), then prints each container's cgroup memory peak and RSS against the plan's limit.

Options:
  --users <n>    users of one level, a whole number ≥ 1; repeat for more (default 300, 1200, 2400)
  --minutes <m>  real minutes users arrive per level, a number > 0 (default 1)
  --seed <n>     seed of arrivals, users and fal job times, a whole number ≥ 0 (default 1)
  -h, --help     this text`;

/** This helper's ports (46000–46999): the fakes on the test host's link, Caddy on the tunnel address. */
const PORTS = { telegram: 46410, falQueue: 46411, falRest: 46412, caddy: 46420 };
/** The plan deployed: the prod stack's, sized for this many users. */
const PLAN_USERS = 300;
/** Requests per real second the machine is asked to carry (bench:load's --max-rate default). */
const MAX_RATE = 5;
/** The app's deadline of a text-to-image request (app/config.ts default; the program does not set it), s. */
const DEADLINE_SECONDS = 120;
const MiB = 1024 * 1024;

const fail = (message: string): never => {
  process.stderr.write(`bench:containers: ${message}\n\n${USAGE}\n`);
  process.exit(2);
};

function parse(argv: string[]): { users: number[]; minutes: number; seed: number } | null {
  let values: ReturnType<typeof parseArgs<{ options: typeof options }>>["values"];
  const options = {
    users: { type: "string", multiple: true },
    minutes: { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", short: "h" },
  } as const;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true }));
  } catch (error) {
    return fail((error as Error).message);
  }
  if (values.help === true) return null;
  const users = (values.users ?? ["300", "1200", "2400"]).map((u) => {
    const n = Number(u);
    return Number.isInteger(n) && n >= 1 ? n : fail(`--users must be a whole number ≥ 1; got ${u}`);
  });
  const minutes = Number(values.minutes ?? "1");
  if (!(Number.isFinite(minutes) && minutes > 0))
    fail(`--minutes must be a number > 0; got ${values.minutes}`);
  const seed = Number(values.seed ?? "1");
  if (!(Number.isInteger(seed) && seed >= 0)) fail(`--seed must be a whole number ≥ 0; got ${values.seed}`);
  return { users, minutes, seed };
}

const args = parse(process.argv.slice(2));
if (args === null) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  process.stderr.write(
    "bench:containers: needs root: it starts its own dockerd in network namespaces and reads their cgroups (run it as root, e.g. sudo npm run bench:containers)\n",
  );
  process.exit(2);
}

const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** memory.stat of a container's cgroup as numbers by name. */
async function memoryStat(entry: StartedContainer): Promise<Map<string, number>> {
  const text = await readFile(join(memoryCgroup(entry), "memory.stat"), "utf8");
  return new Map(
    text
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .map(([k, v]) => [k ?? "", Number(v)]),
  );
}

/** The kernel's count of OOM kills in the cgroup (memory.oom_control's oom_kill; 0 where the kernel has none). */
async function oomKills(entry: StartedContainer): Promise<number> {
  const text = await readFile(join(memoryCgroup(entry), "memory.oom_control"), "utf8");
  return Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
}

interface ContainerFigures {
  name: string;
  limitMB: number;
  peakMB: number;
  /** The most anonymous memory plus mapped files seen (no page cache): what a process holds, MB. */
  rssPeakMB: number;
  oomKills: number;
  restarts: number;
}

/**
 * One level: every user sends /start, then requests arrive for `seconds`; the cgroups' peaks are reset before
 * the arrivals (writing 0 to memory.max_usage_in_bytes), their RSS sampled every second until every request
 * was answered (or the deadline passed), and read at the end.
 */
async function runLevel(
  d: ProgramDeployment,
  users: number,
  seconds: number,
  seed: number,
): Promise<{ figures: ContainerFigures[]; arrived: number; photos: number; deadline: number; f: number }> {
  const prediction = predictLevel(users);
  const lambda = prediction.queue.arrivalPerSecondPeak;
  const f = autoTimeFactor(lambda, MAX_RATE);
  const random = seededRandom(seed);
  d.fal.setProcessingMs(() => exponentialDraw((prediction.queue.jobSeconds / f) * 1000, random));
  log(
    `\n## ${users} users: λ ${lambda.toFixed(2)} jobs/s at peak, S ${prediction.queue.jobSeconds} s, time factor ${f} ` +
      `(${(lambda * f).toFixed(2)} requests/s real)${users > PLAN_USERS ? `; the deployed plan is sized for ${PLAN_USERS} users, so this level is beyond it (the headroom)` : ""}`,
  );
  const people: FakeUser[] = Array.from({ length: users }, (_, i) => ({
    id: 700_000_000 + seed * 100_000 + i,
    first_name: "Load",
    language_code: "en",
  }));
  const { telegram } = d;
  await greetUsers(telegram, people, { timeoutMs: 120_000, intervalMs: 200 });
  const apps = d.started.filter((s) => ["bot", "worker", "board", "redis", "postgres"].includes(s.service));
  for (const entry of apps) await writeFile(join(memoryCgroup(entry), "memory.max_usage_in_bytes"), "0");
  const rssPeak = new Map<string, number>(apps.map((e) => [e.name, 0]));
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const entry of apps) {
        const stat = await memoryStat(entry);
        const rss = (stat.get("total_rss") ?? 0) + (stat.get("total_mapped_file") ?? 0);
        rssPeak.set(entry.name, Math.max(rssPeak.get(entry.name) ?? 0, rss));
      }
      await sleep(1_000);
    }
  })();
  const photosBefore = telegram.callsTo("sendPhoto").filter((c) => c.status === 200).length;
  const deadlineText = translate("en", "job-deadline", { seconds: DEADLINE_SECONDS });
  const toldBefore = telegram.calls.filter((c) => c.status === 200 && c.params.text === deadlineText).length;
  const schedule = poissonArrivals(lambda * f, seconds, random);
  const t0 = Date.now();
  const sent: Message[] = [];
  for (const [i, t] of schedule.entries()) {
    const wait = t0 + t * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    const user = people[Math.floor(random() * people.length)] as FakeUser;
    sent.push(telegram.userSends(user, { text: `containers ${users} request ${i}: a lighthouse at dusk` }));
  }
  const photos = () => telegram.callsTo("sendPhoto").filter((c) => c.status === 200).length - photosBefore;
  const told = () =>
    telegram.calls.filter((c) => c.status === 200 && c.params.text === deadlineText).length - toldBefore;
  await waitUntil(async () => (photos() + told() >= sent.length ? true : undefined), {
    timeoutMs: (DEADLINE_SECONDS + 30) * 1000,
    intervalMs: 500,
    describe: () => "",
  }).catch(() => undefined);
  sampling = false;
  await sampler;
  const figures: ContainerFigures[] = [];
  for (const entry of apps) {
    const state = JSON.parse(
      await entry.host.engine.mustDocker(["inspect", "--format", "{{json .State}}", entry.name]),
    ) as { OOMKilled: boolean };
    const restarts = Number(
      (await entry.host.engine.mustDocker(["inspect", "--format", "{{.RestartCount}}", entry.name])).trim(),
    );
    figures.push({
      name: entry.name,
      limitMB: limitsOf(d.plan, entry.service).limitMB,
      peakMB: (await cgroupNumber(entry, "memory.max_usage_in_bytes")) / MiB,
      rssPeakMB: (rssPeak.get(entry.name) ?? 0) / MiB,
      oomKills: Math.max(await oomKills(entry), state.OOMKilled ? 1 : 0),
      restarts,
    });
  }
  return { figures, arrived: sent.length, photos: photos(), deadline: told(), f };
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)} %`;

const command = `npm run bench:containers -- ${args.users.map((u) => `--users ${u}`).join(" ")} --minutes ${args.minutes} --seed ${args.seed}`;
log(`${command}  (${new Date().toISOString()})`);
log("deploying the program's containers for the prod plan (300 users) on two dockerd…");
const began = Date.now();
const deployment = await deployProgram({ ports: PORTS, falProcessingMs: 200 });
try {
  await deployment.waitHealthy(deployment.started.map((s) => s.name));
  log(`deployed and healthy in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  const tables: string[] = [];
  for (const [index, users] of args.users.entries()) {
    const level = await runLevel(deployment, users, args.minutes * 60, args.seed + index);
    const lost = level.arrived - level.photos - level.deadline;
    const header = `### ${users} users${users > PLAN_USERS ? ` (beyond the plan's ${PLAN_USERS})` : ""}: ${level.arrived} requests in ${args.minutes} min (time factor ${level.f}), ${level.photos} answered with a photo, ${level.deadline} told the deadline passed, ${lost} unanswered when the wait ended`;
    const rows = level.figures.map(
      (c) =>
        `| ${c.name} | ${c.limitMB} | ${c.peakMB.toFixed(0)} (${pct(c.peakMB, c.limitMB)}) | ${c.rssPeakMB.toFixed(0)} (${pct(c.rssPeakMB, c.limitMB)}) | ${c.oomKills} | ${c.restarts} |`,
    );
    const table = [
      header,
      "",
      "| container | limit MB | cgroup peak MB (of limit) | RSS + mapped peak MB (of limit) | OOM kills | restarts |",
      "|---|--:|--:|--:|--:|--:|",
      ...rows,
    ].join("\n");
    tables.push(table);
    log(`\n${table}`);
  }
  log(
    "\nunanswered: neither a photo nor the deadline message when the wait ended (the deadline + 30 s after the last arrival). " +
      "cgroup peak: memory.max_usage_in_bytes, reset before each level's arrivals; it counts the page cache too. " +
      "RSS + mapped: the most of memory.stat total_rss + total_mapped_file sampled each second (what the processes hold).",
  );
} finally {
  await deployment.stop();
}
process.exit(0);
