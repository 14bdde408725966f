import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Message } from "grammy/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../../capacity/index.js";
import { botReplicasOf, rolloutStages } from "../../infra/rollout-order.js";
import { runTool } from "../infra/helpers/run-tool.js";
import { plainStackConfig } from "../infra/helpers/stack-config.js";
import type { FakeFal } from "../support/fake-fal.js";
import type { FakeTelegram } from "../support/fake-telegram.js";
import { sleep } from "../support/http-kit.js";
import { ScriptedUser } from "../support/scripted-user.js";
import { waitUntil } from "../support/wait-until.js";
import { dockerCreateArgs } from "./support/docker-run-args.js";
import { APP_IMAGE } from "./support/lane-images.js";
import type { DeclaredContainer } from "./support/program-containers.js";
import {
  type DeploymentHost,
  declaredByName as declaredIn,
  deployProgram,
  limitsOf,
  type ProgramDeployment,
  STARTED,
  type StartedContainer,
  withEnv,
} from "./support/program-deployment.js";

/**
 * Issue 9 items 1–2: the containers the Pulumi program declares for the prod plan (300 users), started on
 * real engines with exactly the declared inputs, behind the program's own webhook route in Debian's Caddy
 * (support/program-deployment.ts: the two hosts, the tunnel, the fakes, the images and the start order).
 * Issue 9 item 4 then replaces the app containers by a new image in the program's order under load.
 */
const MiB = 1024 * 1024;
/** Ports of the fakes on the test host's end of its link, and Caddy's on the tunnel address (this lane's range). */
const CADDY_PUBLISHED_PORT = 42420;
const PORTS = { telegram: 42410, falQueue: 42411, falRest: 42412, caddy: CADDY_PUBLISHED_PORT };
/** The rollout's new image: the lane's build with one label more, so it has an image id of its own. */
const NEXT_APP_IMAGE = "tapbot-app:next";
/** Users who keep asking through the rollout, one prompt from one of them every interval. */
const SOAK_USERS = 10;
const SOAK_INTERVAL_MS = 700;
/** Users of the burst test: each sends two prompts at once (the rate limit allows 10 a minute). */
const BURST_USERS = 12;

type Host = DeploymentHost;
let deployment: ProgramDeployment;
let plan: Plan;
let declared: DeclaredContainer[];
let hosts: Record<string, Host>;
let telegram: FakeTelegram;
let fal: FakeFal;
let appOverrides: Record<string, string>;
let started: StartedContainer[];

const declaredByName = (name: string): DeclaredContainer => declaredIn(declared, name);

function startedByName(name: string): StartedContainer {
  const entry = started.find((s) => s.name === name);
  if (entry === undefined) throw new Error(`${name} was not started`);
  return entry;
}

const waitHealthy = (names: string[]) => deployment.waitHealthy(names);

describe("the program's containers on real engines, as declared", () => {
  beforeAll(async () => {
    deployment = await deployProgram({ ports: PORTS, falProcessingMs: 200 });
    ({ plan, declared, hosts, telegram, fal, appOverrides, started } = deployment);
  }, 600_000);

  afterAll(async () => {
    await deployment?.stop();
  }, 120_000);

  it("translates every container the program declares, and starts the bots, workers, board, Redis and PostgreSQL", () => {
    for (const container of declared) {
      expect(
        () => dockerCreateArgs(container.inputs, { uploadDir: "/x" }),
        container.inputs.name,
      ).not.toThrow();
    }
    const services = started.map((s) => s.service);
    for (const service of STARTED) expect(services, service).toContain(service);
    expect(started.filter((s) => s.service === "bot")).toHaveLength(limitsOf(plan, "bot").replicas);
    expect(started.filter((s) => s.service === "worker")).toHaveLength(limitsOf(plan, "worker").replicas);
  });

  it("every started container becomes healthy through its own declared healthcheck", async () => {
    await waitHealthy(started.map((s) => s.name));
    for (const entry of started) {
      const test = await entry.host.engine.mustDocker([
        "inspect",
        "--format",
        "{{json .Config.Healthcheck.Test}}",
        entry.name,
      ]);
      const declaredTest = declared.find((c) => c.inputs.name === entry.name)?.inputs.healthcheck?.tests;
      // CMD-SHELL as declared; CMD (exec form) as the same argv for the shell (docker-run-args.ts).
      expect(JSON.parse(test)[0], entry.name).toBe("CMD-SHELL");
      if (declaredTest?.[0] === "CMD-SHELL") expect(JSON.parse(test)[1], entry.name).toBe(declaredTest[1]);
    }
  }, 200_000);

  it("each container's cgroup memory limit and reservation are the plan's", async () => {
    for (const entry of started) {
      const cgroup = `/sys/fs/cgroup/memory/${entry.host.engine.cgroupParent}/${entry.id}`;
      const limit = Number(await readFile(join(cgroup, "memory.limit_in_bytes"), "utf8"));
      const soft = Number(await readFile(join(cgroup, "memory.soft_limit_in_bytes"), "utf8"));
      const { limitMB, reservationMB } = limitsOf(plan, entry.service);
      expect(limit, entry.name).toBe(limitMB * MiB);
      expect(soft, entry.name).toBe(reservationMB * MiB);
    }
  });

  it("publishes exactly the program's ports, on the tunnel address, nothing on all addresses", async () => {
    for (const entry of started) {
      const declaredPorts = (declared.find((c) => c.inputs.name === entry.name)?.inputs.ports ?? []).map(
        (p) => `${p.internal}/${p.protocol ?? "tcp"} -> ${p.ip}:${p.external}`,
      );
      const published = (await entry.host.engine.mustDocker(["port", entry.name]))
        .split("\n")
        .filter(Boolean);
      expect(published.sort(), entry.name).toEqual(declaredPorts.sort());
      for (const line of published) expect(line, entry.name).toContain(`-> ${entry.host.tunnelAddress}:`);
    }
    // Docker's DNAT rules in each host's namespace: one per declared port, each for the tunnel address only.
    for (const [name, host] of Object.entries(hosts)) {
      const nat = await runTool("ip", [
        "netns",
        "exec",
        host.engine.netns,
        "iptables",
        "-t",
        "nat",
        "-S",
        "DOCKER",
      ]);
      // The test's own route to Caddy (production publishes Caddy's 80 and 443 instead) is left out.
      const dnat = nat.stdout
        .split("\n")
        .filter((l) => l.includes("-j DNAT") && !l.includes(`--dport ${CADDY_PUBLISHED_PORT} `));
      const expected = started
        .filter((s) => s.host === host)
        .flatMap((s) => declared.find((c) => c.inputs.name === s.name)?.inputs.ports ?? []);
      expect(dnat, name).toHaveLength(expected.length);
      for (const rule of dnat) expect(rule, name).toContain(`-d ${host.tunnelAddress}/32`);
    }
  });

  it("the bot and the workers, in their containers, turn a user's prompt into a photo sent back", async () => {
    const user = new ScriptedUser(telegram, { id: 4242, first_name: "Contained", language_code: "en" });
    const request = user.says("a lighthouse in the fog");
    try {
      await user.nextPhoto(request, 60_000);
    } catch (error) {
      const logs = await Promise.all(
        started
          .filter((s) => s.service === "worker" || s.service === "bot")
          .map(async (s) => {
            const out = await s.host.engine.docker(["logs", "--tail", "15", s.name]);
            return `${s.name}:\n${out.stdout}${out.stderr}`;
          }),
      );
      throw new Error(
        `${(error as Error).message}\n${logs.join("\n")}\nfal calls: ${JSON.stringify(fal.calls).slice(0, 1500)}`,
      );
    }
    expect(fal.submissions.some((s) => JSON.stringify(s).includes("a lighthouse in the fog"))).toBe(true);
    // The update came in through the webhook route (Caddy), not a poll.
    expect(telegram.webhookDeliveries.some((d) => d.status === 200)).toBe(true);
    expect(telegram.callsTo("getUpdates")).toEqual([]);
  }, 90_000);

  it("a short burst (12 users, 2 prompts each) is served inside every container's limit: no OOM kill, no restart; peaks printed", async () => {
    const users = Array.from(
      { length: BURST_USERS },
      (_, i) => new ScriptedUser(telegram, { id: 5000 + i, first_name: `Burst${i}`, language_code: "en" }),
    );
    const requests = users.flatMap((user) =>
      [1, 2].map((n) => ({ user, message: user.says(`burst picture ${n} for ${user.id}`) })),
    );
    await Promise.all(requests.map(({ user, message }) => user.nextPhoto(message, 90_000)));
    const rows: string[] = [];
    for (const entry of started) {
      const cgroup = `/sys/fs/cgroup/memory/${entry.host.engine.cgroupParent}/${entry.id}`;
      const peak = Number(await readFile(join(cgroup, "memory.max_usage_in_bytes"), "utf8"));
      const { limitMB } = limitsOf(plan, entry.service);
      const state = JSON.parse(
        await entry.host.engine.mustDocker(["inspect", "--format", "{{json .State}}", entry.name]),
      ) as { OOMKilled: boolean; Restarting: boolean };
      const restarts = Number(
        (await entry.host.engine.mustDocker(["inspect", "--format", "{{.RestartCount}}", entry.name])).trim(),
      );
      expect({ name: entry.name, oomKilled: state.OOMKilled, restarts }).toEqual({
        name: entry.name,
        oomKilled: false,
        restarts: 0,
      });
      const peakMB = peak / MiB;
      rows.push(
        `${entry.name.padEnd(18)} ${peakMB.toFixed(0).padStart(6)} MB of ${String(limitMB).padStart(5)} MB (${((100 * peakMB) / limitMB).toFixed(0)}%)`,
      );
    }
    // A measurement for the report, not a pass mark: the page cache counts in a cgroup's usage too.
    process.stdout.write(
      `[measure] cgroup memory peak after ${requests.length} requests:\n${rows.join("\n")}\n`,
    );
  }, 150_000);

  it("a new image replaces the bots one at a time, then the workers in batches, while users keep asking: every prompt gets one picture, fal is asked once", async () => {
    const a = hosts.automation as Host;
    await waitHealthy(started.map((s) => s.name)); // the deploy before starts from a healthy app
    const stages = rolloutStages(botReplicasOf(plan), plan.workers, plainStackConfig(300).workerBatchSize);
    // The new image: the lane's build with one label more, so every replaced container runs another image id.
    const appTag = declaredByName("tapbot-bot-1").inputs.image;
    const next = await a.engine.docker(["build", "-t", NEXT_APP_IMAGE, "-"], {
      input: `FROM ${APP_IMAGE}\nLABEL kz.tapbot.rollout=next\n`,
      timeoutMs: 120_000,
    });
    expect(next.code, next.stderr).toBe(0);
    const oldImageId = (
      await a.engine.mustDocker(["image", "inspect", "--format", "{{.Id}}", APP_IMAGE])
    ).trim();

    // Users who keep asking through the whole rollout: one prompt every 700 ms, each user every 7 s (under
    // the bot's 10 a minute), each prompt its own (the result cache would answer a repeat without fal).
    const users = Array.from(
      { length: SOAK_USERS },
      (_, i) => new ScriptedUser(telegram, { id: 7000 + i, first_name: `Soak${i}`, language_code: "en" }),
    );
    const asked: { user: ScriptedUser; message: Message; prompt: string }[] = [];
    let rolling = true;
    const soak = (async () => {
      for (let n = 0; rolling; n += 1) {
        const user = users[n % users.length] as ScriptedUser;
        const prompt = `rollout picture ${n} for ${user.id}`;
        asked.push({ user, message: user.says(prompt), prompt });
        await sleep(SOAK_INTERVAL_MS);
      }
    })();

    const replaced: {
      stage: number;
      name: string;
      exitCode: number;
      stoppedInMs: number;
      graceSeconds: number;
    }[] = [];
    // How many of each role were running and healthy at the fewest, sampled through the rollout: the order's
    // point is that the webhook and the queue are never left without a process (Caddy would hide a gap from
    // Telegram by retrying for up to 15 s, and the user would only wait longer).
    const fewestHealthy = { bot: Number.POSITIVE_INFINITY, worker: Number.POSITIVE_INFINITY };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const names = (
          await Promise.all(
            Object.values(hosts).map((h) =>
              h.engine.mustDocker(["ps", "--filter", "health=healthy", "--format", "{{.Names}}"]),
            ),
          )
        )
          .join("\n")
          .split("\n");
        for (const role of ["bot", "worker"] as const) {
          const healthy = names.filter((n) => n.startsWith(`tapbot-${role}-`)).length;
          fewestHealthy[role] = Math.min(fewestHealthy[role], healthy);
        }
        await sleep(200);
      }
    })();
    let rolloutFrom = 0;
    let rolloutTo = 0;
    try {
      await sleep(3_000); // traffic first, then the deploy
      rolloutFrom = Date.now();
      for (const [stageIndex, stage] of stages.entries()) {
        const names = stage.indices.map((i) => `tapbot-${stage.role}-${i + 1}`);
        // A stage's containers together (delete-before-replace: stop with the declared grace, remove, create,
        // start), then Pulumi waits for each to be healthy before the next stage, which depends on this one.
        await Promise.all(
          names.map(async (name) => {
            const entry = startedByName(name);
            const began = Date.now();
            await entry.host.engine.mustDocker(["stop", name], { timeoutMs: 120_000 });
            const stoppedInMs = Date.now() - began;
            const exitCode = Number(
              (
                await entry.host.engine.mustDocker(["inspect", "--format", "{{.State.ExitCode}}", name])
              ).trim(),
            );
            await entry.host.engine.mustDocker(["rm", name]);
            started.splice(started.indexOf(entry), 1);
            const graceSeconds = declaredByName(name).inputs.stopTimeout ?? 10;
            replaced.push({ stage: stageIndex, name, exitCode, stoppedInMs, graceSeconds });
            await deployment.start(withEnv(declaredByName(name), appOverrides), entry.host, {
              [appTag]: NEXT_APP_IMAGE,
            });
          }),
        );
        await waitHealthy(names);
      }
      rolloutTo = Date.now();
    } finally {
      rolling = false;
      sampling = false;
      await Promise.all([soak, sampler]);
    }

    // Every prompt sent before, during and after the rollout: one picture each, and one request to fal.
    await Promise.all(
      users.map(async (user) => {
        const own = asked.filter((q) => q.user === user);
        const first = own[0]?.message;
        if (first === undefined) return;
        await waitUntil(async () => (user.photosAfter(first).length >= own.length ? true : undefined), {
          timeoutMs: 120_000,
          describe: () => `${own.length} photos for ${user.id}; got ${user.photosAfter(first).length}`,
        });
      }),
    );
    await sleep(2_000); // a doubled delivery would arrive right behind the first
    const photos = users.map((user) => {
      const first = asked.find((q) => q.user === user)?.message;
      return first === undefined ? 0 : user.photosAfter(first).length;
    });
    expect(photos.reduce((s, n) => s + n, 0)).toBe(asked.length);
    for (const { prompt } of asked) {
      expect(
        fal.submissions.filter((s) => JSON.stringify(s).includes(`"${prompt}"`)),
        prompt,
      ).toHaveLength(1);
    }
    const largestBatch = Math.max(...stages.filter((s) => s.role === "worker").map((s) => s.indices.length));
    expect(fewestHealthy).toEqual({
      bot: botReplicasOf(plan) - 1,
      worker: plan.workers - largestBatch,
    });
    // Nothing even waited: while one bot was replaced the other answered every webhook, Telegram's and fal's,
    // at its first attempt (a failed one would only be retried, later: a user would wait, not lose it).
    const during = (at: number) => at >= rolloutFrom && at <= rolloutTo;
    expect(telegram.webhookDeliveries.filter((d) => during(d.at) && d.status !== 200)).toEqual([]);
    expect(fal.webhookDeliveries.filter((d) => during(d.at) && d.answer !== 200)).toEqual([]);
    expect(telegram.webhookDeliveries.filter((d) => during(d.at)).length).toBeGreaterThan(0);
    // The order and the grace: the stages as the program orders them, each old container stopped by its
    // SIGTERM within the declared grace (exit 0, not Docker's kill), and every app container now the new image.
    expect(
      stages.map((_, i) =>
        replaced
          .filter((r) => r.stage === i)
          .map((r) => r.name)
          .sort(),
      ),
    ).toEqual(stages.map((s) => s.indices.map((i) => `tapbot-${s.role}-${i + 1}`).sort()));
    for (const r of replaced) {
      expect(r, r.name).toMatchObject({ exitCode: 0 });
      expect(r.stoppedInMs, r.name).toBeLessThan(r.graceSeconds * 1000);
    }
    for (const entry of started.filter((s) => s.service === "bot" || s.service === "worker")) {
      const image = (
        await entry.host.engine.mustDocker(["inspect", "--format", "{{.Image}}", entry.name])
      ).trim();
      expect(image, entry.name).not.toBe(oldImageId);
    }
    process.stdout.write(
      `[measure] rollout under load: ${asked.length} prompts, ${stages.length} stages; stops (ms): ${replaced
        .map((r) => `${r.name} ${r.stoppedInMs}`)
        .join(", ")}\n`,
    );
  }, 400_000);
});
