import { BotError } from "grammy";
import { describe, expect, it } from "vitest";
import type { BotContext } from "../../../app/bot/context.js";
import { apologiseOnError, redeliverForMs } from "../../../app/bot/error-handler.js";
import { isStoreOutage } from "../../../app/bot/store-outage.js";
import { translate } from "../../../app/i18n/index.js";
import { createLogger } from "../../../app/observability/logger.js";

const withCode = (code: string, message = "boom") => Object.assign(new Error(message), { code });

describe("isStoreOutage", () => {
  it("is true for a store that refuses, drops or is still starting", () => {
    expect(isStoreOutage(withCode("ECONNREFUSED"))).toBe(true);
    expect(isStoreOutage(withCode("ECONNRESET"))).toBe(true);
    expect(isStoreOutage(withCode("57P03", "the database system is not yet accepting connections"))).toBe(
      true,
    );
    expect(isStoreOutage(withCode("57P01", "terminating connection due to administrator command"))).toBe(
      true,
    );
    expect(isStoreOutage(withCode("08006"))).toBe(true);
    expect(isStoreOutage(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isStoreOutage(new Error("timeout exceeded when trying to connect"))).toBe(true);
    expect(isStoreOutage(new Error("Connection is closed."))).toBe(true);
  });

  it("is false for what a redelivery would not fix", () => {
    expect(isStoreOutage(withCode("42P01", 'relation "users" does not exist'))).toBe(false);
    expect(isStoreOutage(withCode("23505", "duplicate key value"))).toBe(false);
    expect(isStoreOutage(new TypeError("cannot read properties of undefined"))).toBe(false);
    expect(isStoreOutage("ECONNREFUSED")).toBe(false);
    expect(isStoreOutage(undefined)).toBe(false);
  });
});

describe("apologiseOnError with a store down", () => {
  const now = Date.parse("2026-11-30T10:00:00Z");
  function context(sentSecondsAgo: number) {
    const replies: string[] = [];
    const ctx = {
      update: { update_id: 1 },
      msg: { date: Math.floor(now / 1000) - sentSecondsAgo },
      chat: { id: 5, type: "private" },
      from: { id: 5, language_code: "en" },
      reply: async (text: string) => {
        replies.push(text);
      },
    } as unknown as BotContext;
    return { ctx, replies };
  }
  const handler = apologiseOnError(createLogger("silent", "test"), () => now);

  it("rethrows for a fresh message, so the update is delivered again instead of apologised for", async () => {
    const { ctx, replies } = context(5);
    await expect(handler(new BotError(withCode("ECONNREFUSED"), ctx))).rejects.toThrow("boom");
    expect(replies).toEqual([]);
  });

  it(`apologises for a message older than ${redeliverForMs / 60_000} minutes, and for any other error`, async () => {
    const old = context(redeliverForMs / 1000 + 60);
    await handler(new BotError(withCode("ECONNREFUSED"), old.ctx));
    expect(old.replies).toEqual([translate("en", "error-generic")]);
    const fresh = context(5);
    await handler(new BotError(new TypeError("a bug"), fresh.ctx));
    expect(fresh.replies).toEqual([translate("en", "error-generic")]);
  });
});
