import { Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, redactSecrets } from "../../../app/observability/logger.js";
import { metrics, registry } from "../../../app/observability/metrics.js";
import { type OpsServer, startOpsServer } from "../../../app/observability/ops-server.js";

const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

describe("redactSecrets", () => {
  it("strips bot tokens, fal keys and URL passwords and keeps the rest readable", () => {
    const text = `GET https://api.telegram.org/file/bot${token}/photos/1.jpg with Authorization: Key abc-123:def456 to postgres://tapbot:hunter2@db:5432/tapbot`;
    const clean = redactSecrets(text);
    expect(clean).toBe(
      "GET https://api.telegram.org/file/bot<redacted>/photos/1.jpg with Authorization: Key <redacted> to postgres://tapbot:<redacted>@db:5432/tapbot",
    );
  });
});

describe("createLogger", () => {
  it("writes no secret, whether in a message, a field, a header or an error's stack", () => {
    const lines: string[] = [];
    const logger = createLogger("info", "test", { write: (line: string) => void lines.push(line) });
    logger.info(
      { url: `https://x/bot${token}/getMe`, headers: { authorization: "Key abc:def" }, password: "pw1" },
      `calling bot${token}`,
    );
    logger.error({ err: new Error(`failed for bot${token}`) }, "boom");
    logger.error(new Error(`bare error for bot${token}`));
    const all = lines.join("");
    expect(lines).toHaveLength(3);
    expect(all).not.toContain(token.split(":")[1]);
    expect(all).not.toContain("abc:def");
    expect(all).not.toContain("pw1");
    expect(all).toContain("bot<redacted>");
    expect(JSON.parse(lines[1] as string).err.message).toBe("failed for bot<redacted>");
    expect(JSON.parse(lines[2] as string).msg).toBe("bare error for bot<redacted>");
  });
});

describe("ops server", () => {
  let server: OpsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("answers /healthz 200 when every check passes and /metrics with the app's metrics", async () => {
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      registry,
      checks: { redis: async () => {}, postgres: async () => {} },
    });
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok", checks: { redis: "ok", postgres: "ok" } });
    metrics.rateLimited.inc();
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    for (const name of [
      "tapbot_updates_total",
      "tapbot_rate_limited_total",
      "tapbot_jobs_enqueued_total",
      "tapbot_jobs_failed_total",
      "tapbot_job_duration_seconds",
      "tapbot_polls_per_job",
      "tapbot_queue_depth",
      "tapbot_telegram_api_errors_total",
      "tapbot_ack_latency_seconds",
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });

  it("answers 503 naming the failed dependency without leaking its URL's password", async () => {
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      registry: new Registry(),
      checks: {
        redis: async () => {},
        postgres: async () => {
          throw new Error("connect ECONNREFUSED postgres://tapbot:hunter2@10.0.0.2:5432");
        },
      },
      checkTimeoutMs: 500,
    });
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(503);
    const body = (await health.json()) as { status: string; checks: Record<string, string> };
    expect(body.status).toBe("unhealthy");
    expect(body.checks.redis).toBe("ok");
    expect(body.checks.postgres).toMatch(/^failed: connect ECONNREFUSED/);
    expect(JSON.stringify(body)).not.toContain("hunter2");
  });

  it("passes other requests to the handler and answers 404 when it declines", async () => {
    server = await startOpsServer({
      port: 0,
      host: "127.0.0.1",
      registry: new Registry(),
      checks: {},
      handle: async (req, res) => {
        if (req.url !== "/webhook") return false;
        res.writeHead(204).end();
        return true;
      },
    });
    expect((await fetch(`http://127.0.0.1:${server.port}/webhook`, { method: "POST" })).status).toBe(204);
    expect((await fetch(`http://127.0.0.1:${server.port}/elsewhere`)).status).toBe(404);
  });
});
