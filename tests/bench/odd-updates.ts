import { seededRandom } from "./seeded-random.js";

/**
 * A seeded stream of malformed and odd Telegram updates, and what the bot must do with each: the input of
 * the odd-updates soak (`npm run bench:odd`, tests/e2e/odd-updates.test.ts). Pure: the same seed gives the
 * same cases, so a failure can be replayed.
 *
 * Every case that carries a message has a chat of its own (a fresh user), so what the bot sent into that
 * chat is that case's answer and nothing else's; a duplicate repeats the update (same `update_id`) into the
 * chat of the case it copies. Cases the webhook alone can receive (a body that is not an update, a wrong
 * secret, an update kind the bot never subscribed to) are raw posts a stranger or a future Telegram makes.
 */

/** A user of the odd stream, as the fake Telegram takes it. */
export interface OddUser {
  id: number;
  first_name: string;
  language_code?: string;
}

/** An update fed through Telegram (the fake queues it; getUpdates or the webhook delivers it). */
export interface TelegramCase {
  via: "telegram";
  /** A short label of what is odd about it, for the table. */
  kind: string;
  update: Record<string, unknown>;
  /** The user whose private chat it is, when it has one the bot could answer in. */
  user?: OddUser;
  /**
   * Messages the bot must send into the user's chat because of it: 1 for a message in a private chat
   * (whatever it holds, the user gets one clear answer), 0 for what is not a new message from someone
   * (an edit, a duplicate, a group, a kind the bot does not subscribe to, a message without a sender).
   */
  answers: 0 | 1;
  /** A copy of the case before it, same `update_id` (Telegram delivering it again). */
  duplicate?: true;
}

/** A raw HTTP request to the webhook, as anyone on the internet can make (webhook mode only). */
export interface PostCase {
  via: "post";
  kind: string;
  /** The body as sent, bytes or text (not necessarily JSON). */
  body: string;
  /** Content-Type header; undefined sends none. */
  contentType: string | undefined;
  /** Which secret header it carries. */
  secret: "right" | "wrong" | "none";
  /** The status the webhook must answer. */
  status: number;
  /** The chat that must stay silent (a forged or unsubscribed update), if the body names one. */
  user?: OddUser;
}

export type OddCase = TelegramCase | PostCase;

/** Options of {@link oddUpdates}. */
export interface OddUpdatesOptions {
  seed: number;
  /** How many cases (duplicates and raw posts included). */
  count: number;
  /** Include raw posts (webhook mode); polling has no door for them. */
  posts: boolean;
  /** The first update id; ids then increase by one per case (a duplicate repeats one). */
  firstUpdateId: number;
  /** The first user id; each case with a chat takes the next. */
  firstUserId: number;
  /** The webhook's body limit in bytes: the oversize post is one byte over it. @defaultValue 1 MiB */
  maxBodyBytes?: number;
}

/** Text that is odd but a prompt all the same: the bot accepts it as a request. */
const oddPrompts = [
  "a cat\u200d\u{1F431} on a \u202Eroof\u202C", // ZWJ, right-to-left override
  "e\u0301\u0301\u0301 café in the rain", // stacked combining marks
  "\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466} family portrait", // an emoji ZWJ sequence
  "\uD800 lone surrogate sunset", // an unpaired surrogate (JSON carries it as \ud800)
  "日本の城、夕暮れ 🏯",
  "مدينة عربية في الليل",
  "\t\n  a lighthouse \r\n\u00A0 at dusk  \u2028",
  "a robot\u0000 with a NUL byte", // NUL: PostgreSQL text refuses it
  "🤖".repeat(200), // astral characters: 400 UTF-16 units, 200 code points
  "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬… ₀₁₂ ﷽",
];

/** Text the bot refuses with a reason (empty, invisible, too long). */
const refusedTexts = [
  "",
  "   \n\t  ",
  "\u200b\u200c\u200d\u2060", // only zero-width characters
  "x".repeat(5_000), // over the prompt limit and Telegram's own 4096
  "a very long prompt ".repeat(3_000), // 57 000 characters
];

/** Commands, odd ones included; each gets one answer. */
const commands = [
  "/start",
  "/help",
  "/status",
  "/cancel",
  "/upscale",
  "/nosuchcommand",
  "/start@some_other_bot",
  `/start ${"payload".repeat(300)}`,
  "/",
  "//",
];

/** Message contents the bot does not handle: it says so (one answer). */
const unsupported: Record<string, unknown>[] = [
  {
    sticker: {
      file_id: "CAACsticker",
      file_unique_id: "AgADst",
      type: "regular",
      width: 512,
      height: 512,
      is_animated: false,
      is_video: false,
    },
  },
  { voice: { file_id: "AwACvoice", file_unique_id: "AgADvo", duration: 3 } },
  { video_note: { file_id: "DQACvn", file_unique_id: "AgADvn", length: 240, duration: 2 } },
  { location: { latitude: 43.238, longitude: 76.945 } },
  { contact: { phone_number: "+70000000000", first_name: "Someone" } },
  { dice: { emoji: "🎲", value: 6 } },
  {
    poll: {
      id: "1",
      question: "?",
      options: [],
      total_voter_count: 0,
      is_closed: false,
      is_anonymous: true,
      type: "regular",
      allows_multiple_answers: false,
    },
  },
  { animation: { file_id: "CgACanim", file_unique_id: "AgADan", width: 1, height: 1, duration: 1 } },
  { venue: { location: { latitude: 0, longitude: 0 }, title: "\u0000", address: "" } },
  { new_chat_title: "odd" },
  {}, // a message with nothing in it at all
  { text: "/help", entities: [{ type: "bot_command", offset: 40, length: 9 }] }, // an entity past the end
];

/** Images by metadata alone: refused before any download (too big, not an image, no sizes). */
const refusedImages: Record<string, unknown>[] = [
  {
    photo: [
      { file_id: "AgACbig", file_unique_id: "AQADbig", width: 9000, height: 9000, file_size: 900_000_000 },
    ],
    caption: "make it blue",
  },
  {
    document: {
      file_id: "BQACexe",
      file_unique_id: "AgADexe",
      file_name: "virus.exe",
      mime_type: "application/x-msdownload",
      file_size: 1000,
    },
    caption: "make it blue",
  },
  {
    document: { file_id: "BQACnomime", file_unique_id: "AgADnm", file_name: "\u0000.png" },
    caption: "\u202E",
  },
  { photo: [{ file_id: "AgACsmall", file_unique_id: "AQADsmall", width: 10, height: 10, file_size: 100 }] }, // no caption
];

/**
 * The seeded cases. Each kind is drawn with a fixed weight; a tenth of the updates through Telegram are
 * followed by their own duplicate. Raw posts are about a sixth of the cases when `posts` is set.
 */
export function oddUpdates(options: OddUpdatesOptions): OddCase[] {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  let updateId = options.firstUpdateId;
  let userId = options.firstUserId;
  const now = 1_764_000_000;
  const cases: OddCase[] = [];

  const newUser = (): OddUser => {
    const id = userId++;
    const language = pick(["en", "ru", undefined, "zz-ZZ", "", "kk"]);
    return {
      id,
      first_name: pick(["Ann", "\u0000", "𝕬𝖓𝖓", "", "x".repeat(300)]),
      ...(language === undefined ? {} : { language_code: language }),
    };
  };
  const messageFrom = (user: OddUser, fields: Record<string, unknown>, messageId = 1) => ({
    message_id: messageId,
    date: now,
    chat: { id: user.id, type: "private", first_name: user.first_name },
    from: { ...user, is_bot: false },
    ...fields,
  });
  const viaTelegram = (kind: string, fields: Record<string, unknown>): TelegramCase => {
    const user = newUser();
    return {
      via: "telegram",
      kind,
      update: { update_id: updateId++, message: messageFrom(user, fields) },
      user,
      answers: 1,
    };
  };

  const telegramKinds: [number, () => TelegramCase][] = [
    [6, () => viaTelegram("odd prompt", { text: pick(oddPrompts) })],
    [4, () => viaTelegram("empty, invisible or huge text", { text: pick(refusedTexts) })],
    [
      4,
      () => {
        const text = pick(commands);
        const command = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(text);
        return viaTelegram("command", {
          text,
          ...(command === null
            ? {}
            : { entities: [{ type: "bot_command", offset: 0, length: command[0].length }] }),
        });
      },
    ],
    [5, () => viaTelegram("unsupported content", pick(unsupported))],
    [3, () => viaTelegram("refused image", pick(refusedImages))],
    [
      2,
      () => {
        const user = newUser();
        const { from: _from, ...message } = messageFrom(user, { text: "no sender" });
        return {
          via: "telegram",
          kind: "message without from",
          update: { update_id: updateId++, message },
          user,
          answers: 0,
        };
      },
    ],
    [
      1,
      () => {
        const user = newUser();
        const { chat: _chat, ...message } = messageFrom(user, { text: "no chat" });
        return {
          via: "telegram",
          kind: "message without chat",
          update: { update_id: updateId++, message },
          answers: 0,
        };
      },
    ],
    [
      1,
      () => {
        const user = newUser();
        const { date: _date, ...message } = messageFrom(user, { text: "a cat without a date" });
        return {
          via: "telegram",
          kind: "message without date",
          update: { update_id: updateId++, message },
          user,
          answers: 1,
        };
      },
    ],
    [
      2,
      () => {
        const user = newUser();
        const message = {
          ...messageFrom(user, { text: "hello group" }),
          chat: { id: -user.id, type: pick(["group", "supergroup", "channel"]), title: "odd" },
        };
        return {
          via: "telegram",
          kind: "group or channel message",
          update: { update_id: updateId++, message },
          answers: 0,
        };
      },
    ],
    [
      2,
      () => {
        const user = newUser();
        const kind = pick([
          "edited_message",
          "callback_query",
          "inline_query",
          "my_chat_member",
          "message_reaction",
          "future_kind",
        ]);
        const body =
          kind === "callback_query"
            ? {
                id: `cb${updateId}`,
                from: { ...user, is_bot: false },
                chat_instance: "1",
                data: pick(["\u0000", "x".repeat(64), '{"a":', "💥"]),
              }
            : kind === "edited_message"
              ? { ...messageFrom(user, { text: "edited" }), edit_date: now + 1 }
              : { from: { ...user, is_bot: false }, odd: true };
        return {
          via: "telegram",
          kind: "kind the bot does not subscribe to",
          update: { update_id: updateId++, [kind]: body },
          answers: 0,
        };
      },
    ],
  ];
  const postKinds: [number, () => PostCase][] = [
    [
      1,
      () => ({
        via: "post",
        kind: "post: no secret",
        body: '{"update_id":1,"message":{}}',
        contentType: "application/json",
        secret: "none",
        status: 401,
      }),
    ],
    [
      1,
      () => ({
        via: "post",
        kind: "post: wrong secret",
        body: "\u0000garbage",
        contentType: "application/json",
        secret: "wrong",
        status: 401,
      }),
    ],
    [
      1,
      () => ({
        via: "post",
        kind: "post: not JSON",
        body: pick(["{", "nul\u0000l", "\uFFFD\uFFFD", "", "[1,2"]),
        contentType: "application/json",
        secret: "right",
        status: 400,
      }),
    ],
    [
      1,
      () => ({
        via: "post",
        kind: "post: JSON, not an update",
        body: pick([
          "null",
          "[]",
          "42",
          '"x"',
          '{"update_id":"7"}',
          '{"update_id":1.5}',
          `{"update_id":${2 ** 60}}`,
          "{}",
        ]),
        contentType: "application/json",
        secret: "right",
        status: 400,
      }),
    ],
    [
      1,
      () => {
        const user = newUser();
        return {
          via: "post",
          kind: "post: wrong content type",
          body: JSON.stringify({ update_id: updateId++, message: messageFrom(user, { text: "a cat" }) }),
          contentType: pick(["text/plain", "application/x-www-form-urlencoded", undefined]),
          secret: "right",
          status: 415,
          user,
        };
      },
    ],
    [
      1,
      () => ({
        via: "post",
        kind: "post: oversize body",
        body: `{"update_id":1,"pad":"${"x".repeat(maxBody)}"}`,
        contentType: "application/json",
        secret: "right",
        status: 413,
      }),
    ],
    [
      1,
      () => {
        const user = newUser();
        return {
          via: "post",
          kind: "post: unsubscribed kind",
          body: JSON.stringify({
            update_id: updateId++,
            [pick(["callback_query", "edited_message", "future_kind"])]: {
              id: "q",
              from: { ...user, is_bot: false },
              data: "\u0000",
            },
          }),
          contentType: "application/json",
          secret: "right",
          status: 200,
          user,
        };
      },
    ],
  ];

  const draw = <T>(kinds: [number, () => T][]): T => {
    const total = kinds.reduce((sum, [weight]) => sum + weight, 0);
    let r = random() * total;
    for (const [weight, make] of kinds) {
      r -= weight;
      if (r < 0) return make();
    }
    return (kinds.at(-1) as [number, () => T])[1]();
  };

  while (cases.length < options.count) {
    if (options.posts && random() < 1 / 6) {
      cases.push(draw(postKinds));
      continue;
    }
    const next = draw(telegramKinds);
    cases.push(next);
    if (cases.length < options.count && random() < 0.1) {
      cases.push({ ...next, kind: "duplicate update_id", answers: 0, duplicate: true });
    }
  }
  return cases;
}
