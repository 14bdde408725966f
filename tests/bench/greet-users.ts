import type { FakeTelegram, FakeUser } from "../support/fake-telegram.js";
import { waitUntil } from "../support/wait-until.js";

/** Users who send /start at once: enough to be quick, few enough that the bot's answers keep up. */
const START_BURST = 200;

/**
 * Every user sends /start, a burst at a time, and each burst waits until the bot has greeted all of it: the
 * load levels measure requests, not the first contact of thousands of users at one instant.
 */
export async function greetUsers(
  telegram: FakeTelegram,
  users: readonly FakeUser[],
  opts: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  for (let i = 0; i < users.length; i += START_BURST) {
    const burst = users.slice(i, i + START_BURST);
    const ids = new Set(burst.map((u) => u.id));
    for (const user of burst) telegram.userSends(user, { text: "/start" });
    await waitUntil(
      async () => {
        const answered = new Set(telegram.callsTo("sendMessage").map((c) => c.params.chat_id as number));
        return [...ids].every((id) => answered.has(id)) ? true : undefined;
      },
      { ...opts, describe: () => "the bot did not greet every user" },
    );
  }
}
