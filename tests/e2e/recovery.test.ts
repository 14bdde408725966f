import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppProcess, type AppStack, startAppStack } from "../support/app-stack.js";
import { waitUntil } from "../support/wait-until.js";
import {
  dumpLogsOnFailure,
  en,
  enPattern,
  generationsOf,
  newUser,
  sleep,
  submissionsWithPrompt,
  waitForSubmission,
} from "./e2e-kit.js";

/**
 * "A restart loses nothing and repeats nothing": processes killed or restarted in the middle of work.
 * WORKER_LOCK_SECONDS is short so that a stalled job is handed to another worker within seconds.
 */
let stack: AppStack;
let bot: AppProcess;
dumpLogsOnFailure(() => stack);

beforeAll(async () => {
  stack = await startAppStack({ env: { WORKER_LOCK_SECONDS: "2" } });
  bot = await stack.startBot();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

const ackQueued = enPattern("ack-queued", ["position"]);

describe("a worker killed with SIGKILL mid-job", () => {
  // Killed while its call to fal is on the wire (every fal answer takes 1.5 s, so the worker sits inside
  // the step holding the job's lock). A killed submit may already have reached fal, which has no
  // idempotency key, so only there a second submission is possible; the user still gets one picture.
  it.each(["submit", "status", "result"] as const)(
    "during its %s call: another worker recovers the job and the user gets exactly one picture",
    async (kind) => {
      const victim = await stack.startWorker();
      const user = newUser(stack, `Olga${kind}`);
      const prompt = `a red bicycle in the rain (${kind})`;
      stack.fal.setLatencyMs(1_500);
      const request = user.says(prompt);
      await user.replyTo(request, (view) => ackQueued.test(view.sentText ?? ""));
      await waitUntil(
        async () => {
          const ids = new Set(submissionsWithPrompt(stack, prompt).map((s) => s.requestId));
          const inFlight = stack.fal.inFlight();
          return inFlight.some(
            (call) => call.kind === kind && (kind === "submit" || ids.has(call.requestId ?? "")),
          )
            ? true
            : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 20, describe: () => `the worker inside its ${kind} call to fal` },
      );
      await victim.kill();
      stack.fal.setLatencyMs(0);

      const rescuer = await stack.startWorker();
      await user.nextPhoto(request, 40_000);
      await user.replyTo(request, (view) => view.text === en("ack-done"), 10_000);
      await sleep(3_000);
      expect(user.photosAfter(request)).toHaveLength(1);
      const submissions = submissionsWithPrompt(stack, prompt);
      if (kind === "submit") {
        process.stdout.write(
          `[observe] fal submissions after a SIGKILL during submit: ${submissions.length}\n`,
        );
      } else {
        expect(submissions).toHaveLength(1);
      }
      const [row] = await generationsOf(stack, user.id);
      expect(row).toMatchObject({ status: "delivered" });
      expect(submissions.map((s) => s.requestId)).toContain(row?.fal_request_id);
      await rescuer.stop();
    },
    90_000,
  );
});

describe("a worker stopped with SIGTERM mid-job", () => {
  it("exits within the grace period and the next worker finishes the job, once", async () => {
    const first = await stack.startWorker();
    const rui = newUser(stack, "Rui");
    stack.fal.setProcessingMs(3_000);
    try {
      const request = rui.says("a harbour at night");
      await waitForSubmission(stack, "a harbour at night");
      const stopping = Date.now();
      await first.stop();
      // SHUTDOWN_GRACE_SECONDS is 5 in the stack: a job waiting on fal must not hold the worker that long.
      expect(Date.now() - stopping).toBeLessThan(5_000);
      expect(await first.child.exited).toBe(0);
      const next = await stack.startWorker();
      await rui.nextPhoto(request, 30_000);
      await sleep(1_000);
      expect(rui.photosAfter(request)).toHaveLength(1);
      expect(submissionsWithPrompt(stack, "a harbour at night")).toHaveLength(1);
      await next.stop();
    } finally {
      stack.fal.setProcessingMs(300);
    }
  }, 60_000);
});

describe("two workers on one queue", () => {
  it("share a burst of requests and deliver each exactly once", async () => {
    const workers = await Promise.all([stack.startWorker(), stack.startWorker()]);
    const sam = newUser(stack, "Sam");
    const prompts = Array.from({ length: 8 }, (_, i) => `a kite number ${i + 1}`);
    const first = sam.says(prompts[0] as string);
    for (const prompt of prompts.slice(1)) sam.says(prompt);
    await waitUntil(async () => (sam.photosAfter(first).length >= 8 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `8 photos; got ${sam.photosAfter(first).length}`,
    });
    await sleep(1_000);
    expect(sam.photosAfter(first)).toHaveLength(8);
    for (const prompt of prompts) expect(submissionsWithPrompt(stack, prompt), prompt).toHaveLength(1);
    const byWorker = await Promise.all(
      workers.map(
        async (w) => (await w.metrics()).match(/^tapbot_jobs_completed_total\{[^}]*\} (\d+)/m)?.[1],
      ),
    );
    process.stdout.write(`[observe] jobs completed per worker: ${byWorker.join(", ")}\n`);
    await Promise.all(workers.map((w) => w.stop()));
  }, 60_000);
});

describe("a bot killed while it handles an update", () => {
  it("handles the redelivered update once its lease lapses: one acknowledgement, one job, one picture", async () => {
    const kim = newUser(stack, "Kim");
    // The acknowledgement is on its way (3 s of transit) when the bot is killed: it never reaches Telegram,
    // the update was never confirmed, and the dead process's lease on it lapses within seconds.
    stack.telegram.setLatency(3_000, "sendMessage");
    const request = kim.says("a lantern in the fog");
    await waitUntil(async () => ((await generationsOf(stack, kim.id)).length > 0 ? true : undefined), {
      timeoutMs: 10_000,
      describe: () => "the request's row",
    });
    await bot.kill();
    stack.telegram.setLatency(0, "sendMessage");
    bot = await stack.startBot();
    await kim.replyTo(request, (view) => ackQueued.test(view.sentText ?? ""), 30_000);
    const worker = await stack.startWorker();
    await kim.nextPhoto(request, 30_000);
    await sleep(1_000);
    const acks = kim
      .botMessagesAfter(request)
      .filter((view) => view.message.reply_to_message?.message_id === request.message_id);
    expect(acks).toHaveLength(1);
    expect(kim.photosAfter(request)).toHaveLength(1);
    expect(submissionsWithPrompt(stack, "a lantern in the fog")).toHaveLength(1);
    expect(await generationsOf(stack, kim.id)).toHaveLength(1);
    await worker.stop();
  }, 90_000);
});

describe("a bot restart", () => {
  it("does not handle old updates again, after a graceful stop or a SIGKILL", async () => {
    const worker = await stack.startWorker();
    const pia = newUser(stack, "Pia");

    const beforeStop = pia.says("a cat before the restart");
    await pia.replyTo(beforeStop, (view) => ackQueued.test(view.sentText ?? ""));
    await bot.stop();
    bot = await stack.startBot();
    const afterStop = pia.says("a cat after the restart");
    await pia.replyTo(afterStop, (view) => ackQueued.test(view.sentText ?? ""));

    // SIGKILL right after the acknowledgement, while the getUpdates that would confirm the update's offset
    // is still on its way: Telegram offers the update again and the new process must see it was handled.
    stack.telegram.setLatency(2_000, "getUpdates");
    const beforeKill = pia.says("a cat before the kill");
    await pia.replyTo(beforeKill, (view) => ackQueued.test(view.sentText ?? ""));
    await bot.kill();
    stack.telegram.setLatency(0, "getUpdates");
    const reoffered = stack.telegram
      .pendingUpdates()
      .some((u) => u.message?.message_id === beforeKill.message_id);
    expect(reoffered, "precondition: the killed bot's last update is still unconfirmed").toBe(true);
    bot = await stack.startBot();
    const afterKill = pia.says("a cat after the kill");
    await pia.replyTo(afterKill, (view) => ackQueued.test(view.sentText ?? ""));

    const requests = [beforeStop, afterStop, beforeKill, afterKill];
    await waitUntil(async () => (pia.photosAfter(beforeStop).length >= 4 ? true : undefined), {
      timeoutMs: 30_000,
      describe: () => `4 photos; got ${pia.photosAfter(beforeStop).length}`,
    });
    await sleep(1_000);
    for (const request of requests) {
      const acks = pia
        .botMessagesAfter(request)
        .filter((view) => view.message.reply_to_message?.message_id === request.message_id);
      expect(acks, `acknowledgements of "${request.text}"`).toHaveLength(1);
      expect(
        submissionsWithPrompt(stack, String(request.text)),
        `fal submissions of "${request.text}"`,
      ).toHaveLength(1);
    }
    expect(pia.photosAfter(beforeStop)).toHaveLength(4);
    expect(await generationsOf(stack, pia.id)).toHaveLength(4);
    await worker.stop();
  }, 120_000);
});
