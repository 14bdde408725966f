/**
 * Measures the acknowledgement latency of the real bot process (`app/bot/main.ts`, long polling, started
 * by tests/support/app-stack.ts) against the fake Bot API with throwaway Redis and PostgreSQL: N users each
 * send one prompt, one after another, and the time from the fake queueing the update to the bot's ack
 * arriving is recorded. No worker runs, so every job stays queued.
 *
 *   npx tsx tests/app/bot/measure-ack-latency.ts [requests=200]
 */
import { startAppStack } from "../../support/app-stack.js";

const requests = Number(process.argv[2] ?? 200);
const stack = await startAppStack();
try {
  await stack.startBot();
  const latencies: number[] = [];
  for (let i = 0; i < requests; i += 1) {
    const user = { id: 100_000 + i, first_name: "U", language_code: "en" };
    const sent = Date.now();
    stack.telegram.userSends(user, { text: `a lighthouse number ${i}` });
    const ack = await stack.telegram.waitForMessage(user.id, (m) => m.from === "bot", 10_000);
    latencies.push(ack.sentAt - sent);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  console.log(
    `ack latency over ${requests} requests (ms): p50 ${at(0.5)}, p90 ${at(0.9)}, p99 ${at(0.99)}, max ${latencies.at(-1)}`,
  );
} finally {
  await stack.stop();
}
