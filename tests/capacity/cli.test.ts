import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { TELEGRAM_CALLS_PER_JOB } from "../../capacity/index.js";
import { CLI_ARGS, type Run, runCapacity } from "./support.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "capacity-cli-"));

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the CLI as a person would, in a scratch directory, and waits for it to exit. */
const capacity = (...args: string[]): Promise<Run> => runCapacity(work, ...args);

const fixture = (name: string) => join(fixtures, name);

function expectNoStackTrace(run: Run) {
  expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  expect(run.stderr).not.toContain("node_modules");
}

describe("capacity plan", () => {
  it("the README's first command prints the calibrated plan the stack deploys, and it fits under every warn mark", async () => {
    // The command as the README gives it (its first code block), run from the repository root.
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const line = /^npm ci && npm run capacity -- (.+)$/m.exec(readme)?.[1];
    expect(line, "README's first command").toBe("plan --stack prod");
    const run = await runCapacity(REPO_ROOT, ...(line ?? "").split(" "), "--json");
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout);
    expect(plan.calibration).not.toBeNull();
    expect(plan.findings.filter((f: { severity: string }) => f.severity === "error")).toEqual([]);
    for (const host of plan.hosts) expect(host.utilization, host.name).toBeLessThan(0.85);
    // The stack's fal limit (44) carries the 300 users; with webhooks 38 would do.
    expect(plan.users).toBe(300);
    expect(plan.provider).toMatchObject({ concurrency: 44, neededConcurrency: 38, falCompletion: "webhook" });
    expect(plan.provider.bindsAtUsers).toBeGreaterThan(300);
  });

  it("with the defaults alone, the owner's rule of a worker per 30 users overcommits the automation host at 300 users, and the plan names the leaner setting", async () => {
    const run = await capacity("plan", "--users", "300", "--json");
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout);
    expect(plan.calibration).not.toBeNull();
    expect(plan.workers).toBe(10);
    const codes = plan.findings.map((f: { code: string }) => f.code);
    expect(codes).toEqual(
      expect.arrayContaining(["HOST_OVERCOMMITTED", "WORKER_RULE_COST", "PROVIDER_CONCURRENCY_UNSET"]),
    );
    const cost = plan.findings.find((f: { code: string }) => f.code === "WORKER_RULE_COST");
    expect(cost.message).toMatch(/To deploy it, set usersPerWorker \d+/);
    // The program deploys fal's webhooks: a slot is held 25.1 s, so 38 slots.
    expect(plan.provider).toMatchObject({
      concurrency: null,
      neededConcurrency: 38,
      falCompletion: "webhook",
    });
  });

  it("--json prints the contract: polling, a fal limit of 46 gives a p95 wait near 1.31 s at 300 users, 10 workers × 1", async () => {
    const run = await capacity(
      ...["plan", "--users", "300", "--provider-concurrency", "46", "--fal-completion", "poll"],
      ...["--json", "--profile", "legacy"],
    );
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout);
    expect(plan).toMatchObject({ workers: 10, workerConcurrency: 1 });
    expect(plan.queue.servers).toBe(46);
    expect(plan.queue.p95WaitSeconds).toBeCloseTo(1.31, 2);
    expect(plan.provider).toEqual({
      concurrency: 46,
      neededConcurrency: 44,
      bindsAtUsers: 321,
      falCompletion: "poll",
      slotSeconds: expect.closeTo(29, 1),
      slotHoldCv2: expect.closeTo(0.8, 2),
      pollInitialSeconds: 2,
      pollMaxSeconds: 10,
    });
    for (const key of ["arrivalPerSecondPeak", "offeredErlangs", "servers", "utilization", "stable"]) {
      expect(plan.queue).toHaveProperty(key);
    }
    for (const key of ["probabilityOfWait", "meanWaitSeconds", "p95WaitSeconds", "meanQueueLength"]) {
      expect(plan.queue).toHaveProperty(key);
    }
    const host = plan.hosts[0];
    for (const key of ["name", "ramMB", "usedMB", "utilization", "status", "services"])
      expect(host).toHaveProperty(key);
    for (const key of ["name", "replicas", "limitMB", "reservationMB"])
      expect(host.services[0]).toHaveProperty(key);
    expect(plan.redis).toMatchObject({ maxmemoryMB: 128, policy: "noeviction" });
    // The legacy profile's 18 MB per user binds the automation host's RAM at 30 users.
    expect(plan.bottleneck).toEqual({ resource: "ram:automation", maxUsers: 30 });
    expect(plan.costRubPerMonth).toBe(1268);
    expect(plan.findings[0]).toEqual({
      severity: expect.any(String),
      code: expect.any(String),
      message: expect.any(String),
    });
  });

  it("prints a readable report without colour when stdout is not a terminal", async () => {
    const run = await capacity(
      "plan",
      "--users",
      "300",
      "--provider-concurrency",
      "46",
      "--fal-completion",
      "poll",
      "--profile",
      "legacy",
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("46 slots (providerConcurrency)");
    expect(run.stdout).toContain(
      "1.25 jobs/s × 29 s per slot (25 s at fal + until a status poll sees it done; cv² 0.8)",
    );
    expect(run.stdout).toContain("limit to ask fal for  44");
    expect(run.stdout).toContain("10 × 1 = 10 slots");
    expect(run.stdout).toContain("p95 wait");
    expect(run.stdout).toContain("1.31 s (target 5 s)");
    expect(run.stdout).toMatch(/automation\s+\[█+\|█+\|█\]▶ 373\.6 %/);
    expect(run.stdout).toContain("Binds first: ram:automation at 30 users");
    expect(run.stdout).toContain("HOST_OVERCOMMITTED");
    expect(run.stdout).not.toContain("\u001b[");
  });

  it("--format md prints Markdown tables", async () => {
    const run = await capacity("plan", "--users", "80", "--format", "md", "--profile", "legacy");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^# Capacity plan for 80 users/);
    expect(run.stdout).toContain("| host | from | to | RUB/month before | RUB/month after |");
    expect(run.stdout).toContain("| **automation** | 2cpu-4gb-10gb | **C4-M8-D120** | 554 | 4880 |");
  });

  it("reads a JSON config and lets flags override it", async () => {
    const fromFile = JSON.parse(
      (await capacity("plan", "--config", fixture("small-fleet.json"), "--json")).stdout,
    );
    expect(fromFile.users).toBe(40);
    const overridden = await capacity(
      "plan",
      "--config",
      fixture("small-fleet.json"),
      "--users",
      "90",
      "--json",
    );
    expect(JSON.parse(overridden.stdout).users).toBe(90);
    // The worker's 40 MB per concurrent job is in its limit.
    const worker = fromFile.hosts[0].services.find((s: { name: string }) => s.name === "worker");
    expect(worker.limitMB).toBe(250 + 40 * fromFile.workerConcurrency);
  });

  it("--stack NAME reads tapbot:capacity from Pulumi.NAME.yaml", async () => {
    const run = await capacity("plan", "--stack", "fixture", "--stack-dir", fixtures, "--json");
    expect(run.code).toBe(0);
    const plan = JSON.parse(run.stdout);
    expect(plan.users).toBe(60);
    expect(plan.limits.map((l: { resource: string }) => l.resource)).toContain("provider");
  });

  it("--stack given a stack file's path says which flags read that file (exit 2)", async () => {
    const run = await capacity("plan", "--stack", join(fixtures, "Pulumi.fixture.yaml"));
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("a stack name is letters, digits");
    expect(run.stderr).toContain(`for that file give --stack fixture --stack-dir ${join(fixtures, ".")}\n`);
    expect(run.stdout).toBe("");
  });
});

describe("capacity check", () => {
  it("reports both Redis mistakes of the notes' host and exits 1", async () => {
    const run = await capacity("check", "--config", fixture("notes-100-users.yaml"));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("REDIS_MAXMEMORY_OVER_LIMIT");
    expect(run.stdout).toContain("REDIS_EVICTION_POLICY");
    expect(run.stdout).toContain("HOST_RAM_CRIT");
    expect(run.stdout).toContain("3056 of 3072 MB (99.5 %)");
  });

  it("--json gives the counts and the findings", async () => {
    const run = await capacity("check", "--config", fixture("notes-100-users.yaml"), "--json");
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out.errors).toBe(3);
    expect(out.findings.map((f: { code: string }) => f.code)).toContain("REDIS_EVICTION_POLICY");
  });

  it("exits 0 when no finding is an error", async () => {
    const run = await capacity("check", "--users", "50");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("0 error(s)");
  });
});

describe("bad input: one clear message, exit 2, no stack trace", () => {
  it.each([
    [["plan", "--users", "-5"], "users: got -5; expected a number ≥ 1"],
    [["plan", "--users", "2.5"], "users: got 2.5; expected a whole number"],
    [["plan"], "users: missing; expected a number"],
    [["plan", "--config", "unknown-key.yaml"], "usersPerWorkr: unknown key"],
    [
      ["plan", "--config", "missing-host.yaml"],
      'services[2].host: got "nowhere"; expected one of the hosts: box',
    ],
    [
      ["plan", "--config", "reservation-over-limit.yaml"],
      "services[0].reservationMB: got 300; expected at most the memory limit, 256 MB",
    ],
    [["plan", "--config", "no-such-file.yaml"], "cannot read config file no-such-file.yaml: no such file"],
    [["plan", "--stack", "nosection"], 'no "config: tapbot:capacity:" object'],
    [["plan", "--users", "10", "--format", "html"], '--format: got "html"; expected one of "text", "md"'],
    [["curve", "--from", "50", "--to", "10"], "--to: got 10; expected at least --from 50"],
    [["plan", "--userz", "10"], "unknown option '--userz'"],
  ])("%j", async (args, message) => {
    // Fixture names resolve against the fixtures directory; the rest as given.
    const resolved = args.map((a) => (a.endsWith(".yaml") && !a.startsWith("no-such") ? fixture(a) : a));
    const withDir = resolved.includes("--stack") ? [...resolved, "--stack-dir", fixtures] : resolved;
    const run = await capacity(...withDir);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe("");
    expectNoStackTrace(run);
  });

  it("a YAML syntax error names the file, the line and the column", async () => {
    const file = join(work, "broken.yaml");
    writeFileSync(file, "users: 10\nhosts: [ { name: box,\n");
    const run = await capacity("plan", "--config", file);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/broken\.yaml: YAML syntax error: .* at line 3, column 1/);
    expectNoStackTrace(run);
  });

  it("a key given twice in a config is named, the mapping it is in too", async () => {
    const file = join(work, "twice.yaml");
    writeFileSync(file, "users: 10\nthresholds:\n  ram: { warn: 80, critical: 90, warn: 85 }\n");
    const run = await capacity("plan", "--config", file);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `${file}: thresholds.ram.warn is given twice; a key may appear once in a mapping`,
    );
    expectNoStackTrace(run);
  });

  it("reads a config of nothing but unknown keys, as many as 1 MB holds, in seconds, printing 20", async () => {
    const file = join(work, "many-keys.yaml");
    const keys = Array.from({ length: 140_000 }, (_, i) => `k${i.toString(36)}:`).join("\n");
    writeFileSync(file, `users: 300\n${keys}\n`);
    expect(statSync(file).size).toBeLessThanOrEqual(1024 * 1024);
    const started = performance.now();
    const run = await capacity("plan", "--config", file);
    const seconds = (performance.now() - started) / 1000;
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("k0: unknown key");
    expect(run.stderr.split("\n").filter((l) => l.includes("unknown key"))).toHaveLength(20);
    expect(run.stderr).toContain("and 139980 more problems");
    expectNoStackTrace(run);
    // A generous bound for a shared two-core machine; the parser's own duplicate check took minutes.
    expect(seconds).toBeLessThan(40);
  }, 60_000);
});

describe("capacity curve", () => {
  it("prints the table and writes an SVG chart with the warn and critical lines and the bind point", async () => {
    const out = join(work, "curve.svg");
    // The notes' budgets with the image built elsewhere, so that RAM binds (the build's disk would at 0 users).
    const config = join(work, "curve-legacy.yaml");
    writeFileSync(config, "profile: legacy\nimageBuild: null\n");
    const run = await capacity(
      ...["curve", "--from", "10", "--to", "200", "--step", "10", "--out", out, "--config", config],
    );
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("automation: warn from 40 users, critical from 40 users");
    expect(run.stdout).toContain("Binds first: ram:automation at 30 users");
    const svg = readFileSync(out, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    for (const text of [
      "RAM utilization per host",
      "p95 queue wait",
      "warn 85 %",
      "critical 95 %",
      "ram:automation binds at 30 users",
    ]) {
      expect(svg).toContain(text);
    }
    // Vega draws one line mark group per host and one for the p95 wait; five rules: warn, critical and the
    // bind point on the RAM chart, the target and the bind point on the wait chart.
    expect(svg.match(/class="mark-line role-mark/g)).toHaveLength(3);
    expect(svg.match(/class="mark-rule role-mark/g)).toHaveLength(5);
  });

  it.each(["plan", "curve", "check"])(
    "%s --help lists every input with its default and unit",
    async (verb) => {
      const run = await capacity(verb, "--help");
      expect(run.code).toBe(0);
      const help = run.stdout.replace(/\s+/g, " ");
      const scalars = [
        "--users-per-worker <n> sizing rule: workers = ceil(users / this), users (default: 30)",
        "--requests-per-user-hour <n> image requests per user per hour, requests/h (default: 7.5)",
        "--peak-factor <x> peak arrival rate over the average, × (default: 2)",
        "--job-seconds <s> mean time the image provider takes per job, s (default: 25)",
        "--target-wait-p95-seconds <s> queue wait 95 % of jobs stay under at peak, s (default: 5)",
        "--max-worker-concurrency <n> most jobs one worker runs at once, jobs (default: 16)",
        "--provider-concurrency <n> fal's account limit of requests in progress at once: the servers of the queue users wait in (new accounts have 2; fal support raises it on request), jobs (default: unset; the plan then reports the limit the users need and gives the wait at that limit)",
        `--messages-per-job <n> Telegram messages one job costs, messages (default: ${TELEGRAM_CALLS_PER_JOB})`,
        "--steps-per-job <n> worker steps per job (submit, status polls, deliver), each holding a worker slot, steps (default: 6)",
        "--cpu-seconds-per-step <s> CPU one worker step costs, CPU s (default: 0.08)",
        "--telegram-messages-per-second <n> Bot API ceiling per bot token, messages/s (default: 30)",
      ];
      for (const text of [
        ...scalars,
        "hosts name, ramMB (MB)",
        'roles (what the plan may place there beyond its pinned services: "app" for bot and worker, or service names; default: none)',
        "services name, host (unset: placed on the hosts whose roles admit it), baseMB (MB)",
        "thresholds ram 85 %/95 %",
        "catalog",
      ]) {
        expect(help).toContain(text);
      }
      if (verb === "curve") expect(help).toContain("--from <n> first user count, users (default: 10)");
      else expect(help).toContain("--users <n> active users to serve");
    },
  );
});

describe("colours", () => {
  /** Runs the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would see it. */
  function onTerminal(noColor: string): Promise<string> {
    const command = [process.execPath, ...CLI_ARGS, "plan", "--users", "35", "--profile", "legacy"].join(" ");
    return new Promise((resolve, reject) => {
      execFile(
        "script",
        ["-qec", command, "/dev/null"],
        { cwd: work, env: { ...process.env, NO_COLOR: noColor, TERM: "xterm" }, timeout: 20_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      );
    });
  }

  it("colours findings and statuses on a terminal, and not when NO_COLOR is set", async () => {
    const coloured = await onTerminal("");
    expect(coloured).toContain("\u001b[33mwarn"); // the automation host's status, in yellow
    expect(coloured).toContain("Capacity plan for 35 users");
    const plain = await onTerminal("1");
    expect(plain).not.toContain("\u001b[");
    expect(plain).toContain("Capacity plan for 35 users");
  });
});
