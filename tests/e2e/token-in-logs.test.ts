import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppStack, startAppStack } from "../support/app-stack.js";
import { waitUntil } from "../support/wait-until.js";
import { dumpLogsOnFailure, newUser, waitForSubmission } from "./e2e-kit.js";

/**
 * The bot token and the fal key never reach a process's output, whoever writes it: the app's logger or a
 * dependency printing on its own (the long-polling runner used to `console.error` the fetch error, whose
 * URL is `…/bot<TOKEN>/getUpdates`). Telegram is taken away while the bot polls and while a worker sends,
 * and every line the real processes wrote (stdout and stderr) is searched.
 */
let stack: AppStack;
const output: string[] = [];
dumpLogsOnFailure(() => stack);

beforeAll(async () => {
  stack = await startAppStack({ onLog: (name, line) => output.push(`${name}: ${line}`) });
  await Promise.all([stack.startBot(), stack.startWorker()]);
}, 120_000);

afterAll(async () => {
  await stack?.stop();
}, 60_000);

/** Lines of `name` (bot, worker-1) that report a failed Telegram call. */
function failedCalls(name: string): string[] {
  return output.filter((line) => line.startsWith(`${name}: {`) && /telegram api call failed/.test(line));
}

describe("secrets in the processes' output", () => {
  it("Telegram going away while the bot polls and while a worker sends leaks neither the token nor the fal key", async () => {
    const user = newUser(stack, "Lena");
    const prompt = "a lighthouse at dusk, while Telegram is down";
    // The job stays at fal long enough for Telegram to be gone when the worker reports progress and the result.
    stack.fal.setProcessingMs(1_500);
    user.says(prompt);
    await waitForSubmission(stack, prompt);
    await stack.telegram.stop();

    // Both processes met the outage. The bot's long poll failed through the client's own three attempts
    // (0, 1 and 3 s) back to the runner, which is where it used to print; the fifth attempt comes a second
    // after that, time enough for anything printed to arrive. The worker's sends failed too.
    await waitUntil(async () => (failedCalls("bot").length >= 5 ? true : undefined), {
      timeoutMs: 20_000,
      describe: () => "the bot logging failed getUpdates calls",
    });
    await waitUntil(async () => (failedCalls("worker-1").length >= 1 ? true : undefined), {
      timeoutMs: 20_000,
      describe: () => "the worker logging a failed send",
    });
    expect(failedCalls("bot").join("\n")).toMatch(/getUpdates/);

    const all = output.join("\n");
    expect(all).not.toContain(stack.telegram.token);
    expect(all).not.toContain(stack.telegram.token.split(":")[1]);
    expect(all).not.toContain(stack.fal.key);
    // Nothing reached the console bypassing the JSON logger (the runner's "[grammY runner]" lines did).
    const notJson = output.filter((line) => !/^[\w-]+: \{.*\}$/.test(line));
    expect(notJson).toEqual([]);
  }, 60_000);
});
