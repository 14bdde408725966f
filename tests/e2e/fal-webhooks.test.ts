import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppStack, startAppStack } from "../support/app-stack.js";
import type { FalSubmission } from "../support/fake-fal.js";
import { freePort } from "../support/free-port.js";
import { waitUntil } from "../support/wait-until.js";
import {
  dumpLogsOnFailure,
  en,
  newUser,
  sleep,
  submissionsWithPrompt,
  waitForSubmission,
} from "./e2e-kit.js";

/**
 * fal webhooks end to end (issue 14): the bot and workers as processes, FAL_WEBHOOK_URL pointing at the
 * bot's own HTTP port, the fake fal posting signed completions there with its JWKS as FAL_JWKS_URL. fal
 * takes 1 s per job; without a webhook the first status poll comes 5 s after submission (the fallback),
 * so a picture that came through the webhook arrives well before any poll could have found it.
 */
const fallbackSeconds = 5;
const jobMs = 1_000;

let stack: AppStack;
let webhookEnv: Record<string, string>;
dumpLogsOnFailure(() => stack);

beforeAll(async () => {
  stack = await startAppStack({
    // A killed worker's job is recovered within 2-4 s.
    env: { WORKER_LOCK_SECONDS: "2" },
    fal: { processingMs: jobMs, webhooks: { retryDelaysMs: [200, 400] } },
  });
  const botPort = await freePort();
  webhookEnv = {
    FAL_WEBHOOK_URL: `http://127.0.0.1:${botPort}/fal/webhook`,
    FAL_JWKS_URL: stack.fal.jwksUrl,
    FAL_WEBHOOK_FALLBACK_SECONDS: String(fallbackSeconds),
  };
  await Promise.all([
    stack.startBot({ ...webhookEnv, HTTP_PORT: String(botPort) }),
    stack.startWorker(webhookEnv),
  ]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

/** When fal finished `submission` (the fake's own record). */
function completedAt(submission: FalSubmission): number {
  const times = stack.fal.requestTimes().find((t) => t.requestId === submission.requestId);
  if (times?.endedAt === undefined) throw new Error(`fal has not finished ${submission.requestId}`);
  return times.endedAt;
}

/** The bot's count of verified webhooks that found no job recorded for their request. */
async function unmatchedWebhooks(): Promise<number> {
  const bot = stack.processes.find((p) => p.role === "bot");
  const text = (await bot?.metrics()) ?? "";
  return Number(/^tapbot_fal_webhooks_total\{outcome="unmatched"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

const answersFor = (requestId: string) =>
  stack.fal.webhookDeliveries.filter((d) => d.requestId === requestId).map((d) => d.answer);

describe("fal webhooks", () => {
  it("deliver the picture with zero status polls, before any poll could have found it", async () => {
    const user = newUser(stack, "Wes");
    const prompt = "a paper boat on a puddle";
    const request = user.says(prompt);
    const photo = await user.nextPhoto(request, 20_000);
    await user.replyTo(request, (view) => view.text === en("ack-done"));
    const [submission] = submissionsWithPrompt(stack, prompt);
    if (submission === undefined) throw new Error("no submission");
    expect(submission.webhookUrl).toBe(webhookEnv.FAL_WEBHOOK_URL);
    expect(stack.fal.pollsFor(submission.requestId)).toBe(0);
    expect(answersFor(submission.requestId)).toEqual([200]);
    // Zero polls is the proof that the webhook brought it; the time it took is measured, not asserted (the
    // whole suite on two cores stretches it; tests/bench/fal-webhooks.ts gives the figures).
    const lag = photo.sentAt - completedAt(submission);
    process.stdout.write(`[measure] fal webhook: completion → photo ${lag} ms, 0 status polls\n`);
  });

  it("a webhook faster than the worker's own bookkeeping after its submit still brings the picture without a poll", async () => {
    // Its webhook reaches the bot before the worker has even read the submit's answer, so before it mapped
    // the request to its job: the receiver records it unmatched, and the job finds it once parked.
    // fal finishes at once and its answer to the submit takes 500 ms back: the webhook arrives first.
    stack.fal.setQueueMs(0);
    stack.fal.setProcessingMs(0);
    stack.fal.setAnswerDelayMs("submit", 500);
    const unmatchedBefore = await unmatchedWebhooks();
    try {
      const users = ["Ria", "Rob", "Ray"].map((name) => newUser(stack, name));
      const requests = users.map((user, i) => user.says(`an instant sketch ${i}`));
      const photos = await Promise.all(
        users.map((user, i) => user.nextPhoto(requests[i] as (typeof requests)[number], 20_000)),
      );
      for (const [i, user] of users.entries()) {
        const [submission] = submissionsWithPrompt(stack, `an instant sketch ${i}`);
        expect(stack.fal.pollsFor(submission?.requestId ?? "")).toBe(0);
        // Not left for the fallback (which would also find fal's webhook recorded and deliver without a poll).
        expect((photos[i]?.sentAt ?? Number.POSITIVE_INFINITY) - (submission?.at ?? 0)).toBeLessThan(
          fallbackSeconds * 1000,
        );
        expect(user.photosAfter(requests[i] as (typeof requests)[number])).toHaveLength(1);
      }
      // The precondition held: each webhook found no job yet (the bot counted it unmatched).
      expect((await unmatchedWebhooks()) - unmatchedBefore).toBe(3);
    } finally {
      stack.fal.setAnswerDelayMs("submit", 0);
      stack.fal.setQueueMs(50);
      stack.fal.setProcessingMs(jobMs);
    }
  });

  it("a duplicated and a replayed webhook send nothing twice", async () => {
    const user = newUser(stack, "Dee");
    const prompt = "two moons over a quiet lake";
    stack.fal.failNextWebhook({ kind: "duplicate" });
    const request = user.says(prompt);
    await user.nextPhoto(request, 20_000);
    const submission = await waitForSubmission(stack, prompt);
    expect(await stack.fal.replayWebhook(submission.requestId)).toBe(200);
    await waitUntil(async () => (answersFor(submission.requestId).length === 3 ? true : undefined), {
      timeoutMs: 5_000,
      describe: () =>
        `the original, its duplicate and the replay answered; got ${answersFor(submission.requestId)}`,
    });
    expect(answersFor(submission.requestId)).toEqual([200, 200, 200]);
    // A repeated webhook that moved the job would do so at once; a second picture has had time to appear.
    await sleep(1_000);
    expect(user.photosAfter(request)).toHaveLength(1);
    expect(stack.fal.resultFetchesFor(submission.requestId)).toBe(1);
    expect(stack.fal.pollsFor(submission.requestId)).toBe(0);
  });

  it("mis-signed or too old webhooks are refused with 401 and move nothing: the fallback poll delivers", async () => {
    const forged = newUser(stack, "Fay");
    const stale = newUser(stack, "Sol");
    stack.fal.failNextWebhook({ kind: "mis-sign" });
    const forgedRequest = forged.says("a forged lighthouse");
    const forgedSubmission = await waitForSubmission(stack, "a forged lighthouse");
    stack.fal.failNextWebhook({ kind: "stale" });
    const staleRequest = stale.says("an old lighthouse");
    const staleSubmission = await waitForSubmission(stack, "an old lighthouse");
    const [forgedPhoto, stalePhoto] = await Promise.all([
      forged.nextPhoto(forgedRequest, 20_000),
      stale.nextPhoto(staleRequest, 20_000),
    ]);
    for (const [submission, photo] of [
      [forgedSubmission, forgedPhoto],
      [staleSubmission, stalePhoto],
    ] as const) {
      // fal tried three times (two retries), each refused; the job slept on until its fallback poll.
      expect(answersFor(submission.requestId)).toEqual([401, 401, 401]);
      expect(photo.sentAt - submission.at).toBeGreaterThanOrEqual(fallbackSeconds * 1000);
      expect(stack.fal.pollsFor(submission.requestId)).toBeGreaterThanOrEqual(1);
    }
    expect(forged.photosAfter(forgedRequest)).toHaveLength(1);
    expect(stale.photosAfter(staleRequest)).toHaveLength(1);
  });

  it("a dropped webhook delays the picture until the fallback poll but never loses it", async () => {
    const user = newUser(stack, "Dot");
    const prompt = "a kite that never landed";
    stack.fal.failNextWebhook({ kind: "drop" });
    const request = user.says(prompt);
    const photo = await user.nextPhoto(request, 20_000);
    const [submission] = submissionsWithPrompt(stack, prompt);
    if (submission === undefined) throw new Error("no submission");
    expect(answersFor(submission.requestId)).toEqual(["dropped"]);
    expect(photo.sentAt - submission.at).toBeGreaterThanOrEqual(fallbackSeconds * 1000);
    // One poll finds it finished (the fallback is past the job's time).
    expect(stack.fal.pollsFor(submission.requestId)).toBe(1);
    expect(user.photosAfter(request)).toHaveLength(1);
  });

  it("a worker killed while handling a webhook loses nothing: another delivers the one picture", async () => {
    const [first] = stack.processes.filter((p) => p.role === "worker");
    if (first === undefined) throw new Error("no worker");
    const user = newUser(stack, "Kip");
    const prompt = "a lantern carried through snow";
    const request = user.says(prompt);
    const submission = await waitForSubmission(stack, prompt);
    // The woken job's first call to fal is the result: hold it on the wire and kill the worker inside it.
    stack.fal.setLatencyMs(2_000);
    await waitUntil(
      async () =>
        stack.fal.inFlight().some((c) => c.kind === "result" && c.requestId === submission.requestId)
          ? true
          : undefined,
      {
        timeoutMs: 10_000,
        intervalMs: 20,
        describe: () => "the worker inside its result call after the webhook",
      },
    );
    await first.kill();
    stack.fal.setLatencyMs(0);
    const rescuer = await stack.startWorker(webhookEnv);
    await user.nextPhoto(request, 30_000);
    await sleep(1_000);
    expect(user.photosAfter(request)).toHaveLength(1);
    expect(answersFor(submission.requestId)).toEqual([200]);
    expect(stack.fal.pollsFor(submission.requestId)).toBe(0);
    expect(submissionsWithPrompt(stack, prompt)).toHaveLength(1);
    await rescuer.stop();
  }, 60_000);
});
