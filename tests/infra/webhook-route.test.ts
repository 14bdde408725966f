import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { webhookDrainDelayMs } from "../../app/bot/bot-process.js";
import { BOT_WEBHOOK_PATH, botUpstreams, FAL_WEBHOOK_PATH } from "../../infra/components/app.js";
import { BOT_HEALTH_INTERVAL_SECONDS, renderCaddyfile } from "../../infra/render/caddyfile.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";

const config = plainStackConfig();
const caddyfile = renderCaddyfile({
  acmeEmail: config.acmeEmail,
  sites: [],
  webhook: {
    domain: config.botDomain,
    paths: [BOT_WEBHOOK_PATH, FAL_WEBHOOK_PATH],
    upstreams: botUpstreams(2),
  },
});

let dir: string;
let file: string;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = await makeTempDir("caddy-webhook");
  file = join(dir, "Caddyfile");
  await writeFile(file, caddyfile);
  env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
});
afterAll(async () => {
  await removeTempDir(dir);
});

interface ProxyHandler {
  handler: string;
  upstreams?: { dial: string }[];
  health_checks?: {
    active?: { uri: string; interval: number; timeout: number };
    passive?: { fail_duration: number; unhealthy_status: number[] };
  };
  load_balancing?: { retry_match?: { method: string[] }[]; try_duration: number };
}

/** Every reverse_proxy handler anywhere in caddy's adapted JSON. */
function proxies(value: unknown, out: ProxyHandler[] = []): ProxyHandler[] {
  if (Array.isArray(value)) for (const v of value) proxies(v, out);
  else if (typeof value === "object" && value !== null) {
    if ((value as ProxyHandler).handler === "reverse_proxy") out.push(value as ProxyHandler);
    for (const v of Object.values(value)) proxies(v, out);
  }
  return out;
}

describe("the bot's webhook route in the Caddyfile", () => {
  it("is valid for caddy and serves the bot domain over HTTPS", async () => {
    const result = await runTool("caddy", ["validate", "--config", file, "--adapter", "caddyfile"], { env });
    expect(result.stdout + result.stderr).toContain("Valid configuration");
    expect(caddyfile).toContain(`${config.botDomain} {`);
  });

  it("balances POSTs to Telegram's and fal's webhook paths over both replicas with health checks and retries on the other", async () => {
    const result = await runTool("caddy", ["adapt", "--config", file, "--adapter", "caddyfile"], { env });
    expect(result.code, result.stderr).toBe(0);
    const [proxy] = proxies(JSON.parse(result.stdout));
    expect(proxy?.upstreams?.map((u) => u.dial)).toEqual(["tapbot-bot-1:8080", "tapbot-bot-2:8080"]);
    expect(proxy?.health_checks?.active?.uri).toBe("/healthz");
    expect(proxy?.health_checks?.passive?.unhealthy_status).toEqual([503]);
    expect(proxy?.load_balancing?.retry_match).toEqual([{ method: ["POST"] }]);
    expect(proxy?.load_balancing?.try_duration).toBe(15e9);
    expect(result.stdout).toContain('"path":["/telegram/webhook","/fal/webhook"]');
    expect(result.stdout).toContain('"status_code":404');
  });

  it("notices a draining replica well within the app's drain delay", () => {
    const checkSeconds = BOT_HEALTH_INTERVAL_SECONDS + 1; // interval + health_timeout
    expect(checkSeconds * 1000).toBeLessThan(webhookDrainDelayMs);
  });
});
