import { resolve as resolvePath } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeTelegram, startFakeTelegram } from "../support/fake-telegram.js";
import { firstUpResources, isSecretWrapper, type Registered, unwrap } from "./helpers/pulumi-mocks.js";
import { runTool } from "./helpers/run-tool.js";

let telegram: FakeTelegram;
let check: Registered;
let containers: Registered[];

beforeAll(async () => {
  telegram = await startFakeTelegram();
  const resources = await firstUpResources();
  const found = resources.find((r) => r.type === "command:local:Command" && r.name === "app-old-bot-check");
  if (found === undefined) throw new Error("the program registers no app-old-bot-check");
  check = found;
  containers = resources.filter((r) => r.type === "docker:index/container:Container");
}, 60_000);

afterAll(async () => {
  await telegram?.stop();
});

/** Runs the check exactly as the program registers it (command, directory, environment), against the fake. */
async function runCheck(overrides: Record<string, string> = {}) {
  const environment = unwrap(check.inputs.environment) as Record<string, string>;
  // The program's token is the stack's secret; the fake accepts its own.
  expect(environment.TELEGRAM_BOT_TOKEN).toMatch(/SECRET/);
  return runTool("bash", ["-c", String(check.inputs.create)], {
    cwd: String(check.inputs.dir),
    env: {
      ...process.env,
      ...environment,
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.apiRoot,
      TAPBOT_POLL_SECONDS: "2",
      ...overrides,
    },
    timeoutMs: 60_000,
  });
}

const call = (method: string, params: Record<string, unknown> = {}) =>
  fetch(`${telegram.apiRoot}/bot${telegram.token}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });

describe("the deploy's old-bot check, run as the program registers it, against the fake Telegram", () => {
  it("runs in the repository before every app container, again for each new image, the token a secret", () => {
    expect(resolvePath(String(check.inputs.dir))).toBe(resolvePath("."));
    expect(isSecretWrapper(check.inputs.environment)).toBe(true);
    const triggers = JSON.stringify(check.inputs.triggers);
    expect(triggers).toMatch(/tapbot-app:[0-9a-f]+/);
    const app = containers.filter((c) => /^app-(bot|worker)-\d+$/.test(c.name));
    expect(app.length).toBeGreaterThan(1);
    for (const container of app) {
      expect(
        container.dependencies.some((urn) => urn.endsWith("::app-old-bot-check")),
        container.name,
      ).toBe(true);
    }
  });

  it("lets the new bot start when nobody else holds the token", async () => {
    await call("deleteWebhook");
    const run = await runCheck();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      "old-bot check: telegram webhook: none set; the new bot sets https://bot.tapbot.kz/telegram/webhook",
    );
    expect(run.stdout).toContain("old-bot check: telegram poller: no other poller within 2 s");
  }, 60_000);

  it("stops the deploy when an old bot's webhook is set, says what to do, and never prints the token", async () => {
    // An old bot that put its token in its webhook path, as many do.
    await call("setWebhook", { url: `https://old.tapbot.kz/${telegram.token}` });
    const run = await runCheck();
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      "old-bot check: telegram webhook: a webhook to https://old.tapbot.kz/<secret> is set: the old bot receives the updates",
    );
    expect(run.stderr).toContain("the new bot was not started");
    expect(run.stderr).toContain("pulumi config set replaceOldBot true");
    expect(run.stdout + run.stderr).not.toContain(telegram.token.split(":")[1]);
    // Read only: the old webhook is still there.
    const info = (await (await call("getWebhookInfo")).json()) as { result: { url: string } };
    expect(info.result.url).toBe(`https://old.tapbot.kz/${telegram.token}`);
  }, 60_000);

  it("with tapbot:replaceOldBot, lets the new bot take over and says what it replaces", async () => {
    await call("setWebhook", { url: "https://old.tapbot.kz/hook" });
    const run = await runCheck({ TAPBOT_REPLACE_OLD_BOT: "true" });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      "a webhook to https://old.tapbot.kz/hook is set: the old bot receives the updates (0 pending); replaced (tapbot:replaceOldBot): the new bot takes the updates",
    );
  }, 60_000);

  it("passes once the new bot's own webhook is set (every later deploy)", async () => {
    await call("setWebhook", { url: "https://bot.tapbot.kz/telegram/webhook" });
    const run = await runCheck();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("already the new bot's");
  }, 60_000);

  it("stops the deploy while another process polls with the token", async () => {
    await call("deleteWebhook");
    let polling = true;
    const oldBot = (async () => {
      while (polling) {
        const answer = await call("getUpdates", { timeout: 1 }).catch(() => undefined);
        if (answer?.status === 409) await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      const run = await runCheck();
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("old-bot check: telegram poller: another process polls with this token");
      expect(run.stderr).toContain("stop the old bot (its service, container or screen session)");
    } finally {
      polling = false;
      await oldBot;
    }
  }, 60_000);

  it("refuses a token Telegram rejects even with tapbot:replaceOldBot, and a broken environment by name", async () => {
    const refused = await runCheck({
      TELEGRAM_BOT_TOKEN: "123456:not-this-bot",
      TAPBOT_REPLACE_OLD_BOT: "true",
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("old-bot check: telegram token: Telegram refuses the token");
    expect(refused.stderr).not.toContain("not-this-bot");
    const broken = await runCheck({ TAPBOT_REPLACE_OLD_BOT: "maybe", TAPBOT_POLL_SECONDS: "0" });
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('old-bot check: TAPBOT_REPLACE_OLD_BOT expected "true" or "false"');
    expect(broken.stderr).toContain("old-bot check: TAPBOT_POLL_SECONDS");
  }, 60_000);
});
