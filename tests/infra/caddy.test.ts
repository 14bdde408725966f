import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderCaddyfile } from "../../infra/render/caddyfile.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";

const config = plainStackConfig();
const caddyfile = renderCaddyfile({
  acmeEmail: config.acmeEmail,
  sites: [
    { domain: config.n8nDomain, upstream: "tapbot-n8n:5678" },
    { domain: config.directusDomain, upstream: `${config.dataTunnelAddress}:8055` },
  ],
});

let dir: string;
let file: string;
/** Caddy keeps its state under HOME/XDG dirs; point them at the temp dir so nothing lands in the machine's. */
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  dir = await makeTempDir("caddy");
  file = join(dir, "Caddyfile");
  await writeFile(file, caddyfile);
  env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe("the Caddyfile", () => {
  it("is a valid configuration for caddy validate", async () => {
    const result = await runTool("caddy", ["validate", "--config", file, "--adapter", "caddyfile"], { env });
    expect(result.stdout + result.stderr).toContain("Valid configuration");
    expect(result.code).toBe(0);
  });

  it("serves both domains over HTTPS with ACME certificates and proxies each to its upstream", async () => {
    const result = await runTool("caddy", ["adapt", "--config", file, "--adapter", "caddyfile"], { env });
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as {
      apps: {
        http: { servers: Record<string, { listen: string[]; routes: { match: { host: string[] }[] }[] }> };
        tls: {
          automation: { policies: { subjects: string[]; issuers: { email: string; module: string }[] }[] };
        };
      };
    };
    const server = Object.values(json.apps.http.servers)[0];
    expect(server?.listen).toEqual([":443"]);
    expect(server?.routes.map((r) => r.match[0]?.host[0]).sort()).toEqual([
      config.directusDomain,
      config.n8nDomain,
    ]);
    expect(result.stdout).toContain('"dial":"tapbot-n8n:5678"');
    expect(result.stdout).toContain(`"dial":"${config.dataTunnelAddress}:8055"`);
    const policy = json.apps.tls.automation.policies[0];
    expect(policy?.subjects?.slice().sort()).toEqual([config.directusDomain, config.n8nDomain]);
    expect(policy?.issuers.find((i) => i.module === "acme")?.email).toBe(config.acmeEmail);
  });

  it("caddy rejects a broken Caddyfile, so the validation above means something", async () => {
    const broken = join(dir, "Broken");
    await writeFile(broken, `${caddyfile}\nbroken.tapbot.kz {\n\treverse_proxy\n`);
    const result = await runTool("caddy", ["validate", "--config", broken, "--adapter", "caddyfile"], {
      env,
    });
    expect(result.code).not.toBe(0);
  });
});
