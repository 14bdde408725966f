import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppProcess, type AppStack, startAppStack } from "../support/app-stack.js";
import type { ScriptedUser } from "../support/scripted-user.js";
import { waitUntil } from "../support/wait-until.js";
import { dumpLogsOnFailure, en, enPattern, newUser, sleep } from "./e2e-kit.js";

/**
 * fal's account limit, enforced by the app: a bot and several worker processes against a fake fal that
 * runs at most FAL_CONCURRENCY requests of the account at once (as fal does) and reports the most that
 * were ever in flight there. WORKER_LOCK_SECONDS is short so that a killed worker's job is recovered
 * within seconds.
 */
const limit = 2;
let stack: AppStack;
let workers: AppProcess[] = [];
dumpLogsOnFailure(() => stack);

beforeAll(async () => {
  stack = await startAppStack({
    env: { FAL_CONCURRENCY: String(limit), WORKER_LOCK_SECONDS: "2" },
    fal: { accountConcurrency: limit, queueMs: 20, processingMs: 600 },
  });
  await stack.startBot();
  workers = await Promise.all([stack.startWorker(), stack.startWorker(), stack.startWorker()]);
}, 180_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

/** What fal saw: never more requests in flight than the limit, and none kept waiting for a runner. */
function expectFalNeverOverLimit(): void {
  expect(stack.fal.peakInFlight).toBeLessThanOrEqual(limit);
  const waitedAtFal = stack.fal.requestTimes().filter((t) => t.inQueueMs > 20 + 150);
  expect(waitedAtFal).toEqual([]);
}

/** Sums a metric's samples (all label sets) in a /metrics text. */
function metricSum(text: string, name: string): number {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

async function slotsInUse(): Promise<number> {
  return metricSum(await (workers[0] as AppProcess).metrics(), "tapbot_fal_slots_in_use");
}

const ackWait = enPattern("ack-queued-wait", ["position", "minutes"]);

describe("fal's account limit across worker processes", () => {
  it("three workers never have more requests at fal than FAL_CONCURRENCY, and each of 8 users gets one picture", async () => {
    const users = Array.from({ length: 8 }, (_, i) => newUser(stack, `Slot${i}`));
    const requests = users.map((user, i) => ({ user, request: user.says(`a lantern number ${i}`) }));
    await Promise.all(requests.map(({ user, request }) => user.nextPhoto(request, 60_000)));
    await sleep(500);
    for (const { user, request } of requests) expect(user.photosAfter(request)).toHaveLength(1);
    // The limit was reached (the users did wait for slots), never passed.
    expect(stack.fal.peakInProgress).toBe(limit);
    expectFalNeverOverLimit();

    const texts = await Promise.all(workers.map((w) => w.metrics()));
    for (const text of texts) expect(metricSum(text, "tapbot_fal_slots_limit")).toBe(limit);
    expect(texts.reduce((n, text) => n + metricSum(text, "tapbot_fal_slot_wait_seconds_count"), 0)).toBe(8);
    await waitUntil(async () => ((await slotsInUse()) === 0 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => "every slot given back",
    });
  }, 90_000);

  it("a vip who asks while free users wait for a slot goes ahead of them", async () => {
    // Long enough that the vip's request is in the line for a slot before the first free job ends, even when
    // the whole suite shares two cores (a worker may take seconds to reach the vip's job); checked below.
    stack.fal.setProcessingMs(16_000);
    try {
      const free = newUser(stack, "Fay");
      const vip = newUser(stack, "Vic");
      await vip.nextBotMessage(vip.says("/start"), () => true);
      await stack.db.query("UPDATE users SET tier = 'vip' WHERE telegram_id = $1", [vip.id]);
      const before = stack.fal.submissions.length;

      // One after another: the bot handles updates concurrently, and first come means first accepted.
      const freeRequests: ReturnType<ScriptedUser["says"]>[] = [];
      for (const n of [1, 2, 3, 4]) {
        const request = free.says(`free lantern ${n}`);
        await free.replyTo(request);
        freeRequests.push(request);
        if (n === 1) {
          // The two slots free 4 s apart: the first goes to the head of the line (the vip) alone. Freed
          // together, both would be granted at once, to the vip and to free 3, and which of the two reached
          // fal first would be a race between two workers, not the line's order.
          await waitUntil(async () => (stack.fal.submissions.length > before ? true : undefined), {
            timeoutMs: 10_000,
            describe: () => "free lantern 1 submitted",
          });
          await sleep(4_000);
        }
      }
      await waitUntil(async () => (stack.fal.submissions.length >= before + limit ? true : undefined), {
        timeoutMs: 10_000,
        describe: () => "the first free requests submitted",
      });
      await sleep(300);
      const vipRequest = vip.says("vip lantern");
      const vipAck = await vip.replyTo(vipRequest);
      // Every slot is taken: the acknowledgement says the vip is next and about how long that takes.
      expect(vipAck.sentText).toMatch(ackWait);
      expect(ackWait.exec(vipAck.sentText ?? "")?.[1]).toBe("1");
      // The case's precondition, not a race: free 3, free 4 and the vip wait in line while both slots are taken.
      await waitUntil(
        async () => {
          const metrics = await (workers[0] as AppProcess).metrics();
          return metricSum(metrics, "tapbot_fal_slot_waiting") === 3 &&
            metricSum(metrics, "tapbot_fal_slots_in_use") === limit
            ? true
            : undefined;
        },
        { timeoutMs: 10_000, describe: () => "three requests waiting for a slot while both are taken" },
      );

      await Promise.all([
        ...freeRequests.map((r) => free.nextPhoto(r, 120_000)),
        vip.nextPhoto(vipRequest, 120_000),
      ]);
      // A photo after request 4 may be an earlier request's: wait until fal has seen all five.
      const order = await waitUntil(
        async () => {
          const prompts = stack.fal.submissions.slice(before).map((s) => String(s.input.prompt));
          return prompts.length >= 5 ? prompts : undefined;
        },
        { timeoutMs: 60_000, describe: () => "all five requests submitted to fal" },
      );
      const [firstFree] = freeRequests;
      await waitUntil(
        async () => (firstFree !== undefined && free.photosAfter(firstFree).length >= 4 ? true : undefined),
        { timeoutMs: 60_000, describe: () => "the four free pictures delivered" },
      );
      expect(order.slice(0, 2).sort()).toEqual(["free lantern 1", "free lantern 2"]);
      expect(order.slice(2)).toEqual(["vip lantern", "free lantern 3", "free lantern 4"]);
      expectFalNeverOverLimit();
    } finally {
      stack.fal.setProcessingMs(600);
    }
  }, 180_000);

  it("/status counts the wait for a slot: behind two waiting jobs, a user is third, with the estimate", async () => {
    // Both slots stay taken until /status has answered, even on a busy machine.
    stack.fal.setProcessingMs(8_000);
    try {
      const running = [newUser(stack, "Run1"), newUser(stack, "Run2")];
      const waiting = [newUser(stack, "Wait1"), newUser(stack, "Wait2")];
      const third = newUser(stack, "Third");
      const before = stack.fal.submissions.length;
      const requests: { user: ScriptedUser; request: ReturnType<ScriptedUser["says"]> }[] = [];
      for (const user of running)
        requests.push({ user, request: user.says(`${user.profile.first_name}'s sky`) });
      await waitUntil(async () => (stack.fal.submissions.length >= before + limit ? true : undefined), {
        timeoutMs: 10_000,
        describe: () => "both slots taken",
      });
      for (const user of [...waiting, third]) {
        const request = user.says(`${user.profile.first_name}'s sky`);
        requests.push({ user, request });
        await user.replyTo(request);
      }
      const status = third.says("/status");
      const answer = await third.nextBotMessage(
        status,
        (view) => view.sentText?.startsWith("Your jobs") === true,
      );
      // Two ahead of it for 2 slots, both taken: (3 / 2) × 25 s to get a slot, then its own 25 s → 2 min.
      expect(answer.sentText).toBe(
        [
          en("status-header"),
          en("status-queued", { kind: en("kind-text-to-image"), position: 3, minutes: 2 }),
        ].join("\n"),
      );
      await Promise.all(requests.map(({ user, request }) => user.nextPhoto(request, 60_000)));
      expectFalNeverOverLimit();
    } finally {
      stack.fal.setProcessingMs(600);
    }
  }, 90_000);

  it("a worker killed with SIGKILL while holding slots leaks none: every picture arrives, then every slot is free", async () => {
    await Promise.all(workers.map((w) => w.stop()));
    const victim = await stack.startWorker();
    workers = [victim];
    const users = [newUser(stack, "KillA"), newUser(stack, "KillB"), newUser(stack, "KillC")];
    // Every fal answer takes 1.5 s: the victim sits inside its submit calls, holding both slots.
    stack.fal.setLatencyMs(1_500);
    const requests = users.map((user) => ({ user, request: user.says(`${user.profile.first_name}'s kite`) }));
    await waitUntil(
      async () =>
        stack.fal.inFlight().filter((c) => c.kind === "submit").length >= limit ? true : undefined,
      { timeoutMs: 20_000, intervalMs: 20, describe: () => "the victim inside two submit calls" },
    );
    await victim.kill();
    stack.fal.setLatencyMs(0);
    workers = [await stack.startWorker(), await stack.startWorker()];

    await Promise.all(requests.map(({ user, request }) => user.nextPhoto(request, 60_000)));
    await sleep(500);
    for (const { user, request } of requests) expect(user.photosAfter(request)).toHaveLength(1);
    expectFalNeverOverLimit();
    await waitUntil(async () => ((await slotsInUse()) === 0 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => "every slot given back",
    });
  }, 120_000);
});
