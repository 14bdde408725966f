import { writeFile } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { proxySites } from "../../infra/proxy-sites.js";
import { renderCaddyfile } from "../../infra/render/caddyfile.js";
import { type RunningChild, startChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";

const config = plainStackConfig();
const caddyfile = renderCaddyfile({
  acmeEmail: config.acmeEmail,
  sites: proxySites(config, {
    n8n: "tapbot-n8n:5678",
    directus: `${config.dataTunnelAddress}:8055`,
    grafana: `${config.dataTunnelAddress}:3000`,
    board: "tapbot-board:8090",
  }),
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

  it("serves every domain over HTTPS with ACME certificates and proxies each to its upstream", async () => {
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
    const domains = [
      config.boardDomain,
      config.directusDomain,
      config.grafanaDomain,
      config.n8nDomain,
    ].sort();
    expect(server?.routes.map((r) => r.match[0]?.host[0]).sort()).toEqual(domains);
    expect(result.stdout).toContain('"dial":"tapbot-n8n:5678"');
    expect(result.stdout).toContain(`"dial":"${config.dataTunnelAddress}:8055"`);
    expect(result.stdout).toContain(`"dial":"${config.dataTunnelAddress}:3000"`);
    expect(result.stdout).toContain('"dial":"tapbot-board:8090"');
    const policy = json.apps.tls.automation.policies[0];
    expect(policy?.subjects?.slice().sort()).toEqual(domains);
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

  it("refuses to render an owner-only site with an allowlist entry that is not an address", () => {
    expect(() =>
      renderCaddyfile({
        acmeEmail: config.acmeEmail,
        sites: proxySites(
          { ...config, adminAllowIps: ["203.0.113.7 }\n\treverse_proxy evil:80"] },
          {
            n8n: "n8n:5678",
            directus: "10.77.0.2:8055",
            grafana: "10.77.0.2:3000",
            board: "tapbot-board:8090",
          },
        ),
      }),
    ).toThrow(/not an IPv4\/IPv6 address/);
  });
});

/** An upstream standing in for n8n or Directus: answers 200 with its name and records every path asked. */
async function startUpstream(name: string): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? "");
    res.end(`${name} answered ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

interface Answer {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

/**
 * One HTTPS request to Caddy on loopback as the client at `from` (127.0.0.1 plays the owner, 127.0.0.2 a
 * stranger: two source addresses, as two machines on the internet would be), for `domain` by SNI and Host.
 */
function get(
  port: number,
  domain: string,
  path: string,
  from: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: opts.method ?? "GET",
        localAddress: from,
        servername: domain,
        headers: { host: domain, ...opts.headers },
        // Caddy's local CA stands in for Let's Encrypt here; the chain is not what is being tested.
        rejectUnauthorized: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

describe("the rendered Caddyfile in front of the admin UIs, served by the real Caddy", () => {
  const OWNER = "127.0.0.1";
  const STRANGER = "127.0.0.2";
  let caddy: RunningChild;
  let https: number;
  let n8n: Awaited<ReturnType<typeof startUpstream>>;
  let directus: Awaited<ReturnType<typeof startUpstream>>;
  let grafana: Awaited<ReturnType<typeof startUpstream>>;
  let board: Awaited<ReturnType<typeof startUpstream>>;

  beforeAll(async () => {
    [n8n, directus, grafana, board] = await Promise.all([
      startUpstream("n8n"),
      startUpstream("directus"),
      startUpstream("grafana"),
      startUpstream("board"),
    ]);
    const http = await freePort();
    https = await freePort();
    const served = renderCaddyfile({
      acmeEmail: config.acmeEmail,
      sites: proxySites(
        { ...config, adminAllowIps: [`${OWNER}/32`, "2001:db8:77::/48"], n8nPublicWebhooks: true },
        {
          n8n: `127.0.0.1:${n8n.port}`,
          directus: `127.0.0.1:${directus.port}`,
          grafana: `127.0.0.1:${grafana.port}`,
          board: `127.0.0.1:${board.port}`,
        },
      ),
    });
    // Only the global options differ from production: a local CA instead of Let's Encrypt, free ports, no
    // admin endpoint. Every site block is served exactly as rendered.
    const global = `\temail ${config.acmeEmail}\n}`;
    expect(served).toContain(global);
    const local = served.replace(
      global,
      `\temail ${config.acmeEmail}\n\tlocal_certs\n\tskip_install_trust\n\thttp_port ${http}\n\thttps_port ${https}\n\tadmin off\n}`,
    );
    const localFile = join(dir, "Caddyfile.local");
    await writeFile(localFile, local);
    caddy = startChild("caddy", ["run", "--config", localFile, "--adapter", "caddyfile"], { env });
    await waitUntil(
      async () => (await get(https, config.n8nDomain, "/", OWNER).catch(() => undefined))?.status,
      { timeoutMs: 20_000, describe: () => `caddy serving on ${https}:\n${caddy.logTail(30)}` },
    );
  }, 40_000);

  afterAll(async () => {
    await caddy?.stop("SIGTERM", 5_000);
    n8n?.server.close();
    directus?.server.close();
    grafana?.server.close();
    board?.server.close();
  });

  it("proxies the owner to n8n, Directus, Grafana and the queue dashboard", async () => {
    const toN8n = await get(https, config.n8nDomain, "/home/workflows", OWNER);
    expect(toN8n.status).toBe(200);
    expect(toN8n.body).toBe("n8n answered /home/workflows");
    expect(toN8n.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
    const toDirectus = await get(https, config.directusDomain, "/admin/login", OWNER);
    expect(toDirectus.status).toBe(200);
    expect(toDirectus.body).toBe("directus answered /admin/login");
    const toGrafana = await get(https, config.grafanaDomain, "/d/tapbot-overview", OWNER);
    expect(toGrafana.status).toBe(200);
    expect(toGrafana.body).toBe("grafana answered /d/tapbot-overview");
    const toBoard = await get(https, config.boardDomain, "/queue/generations?status=failed", OWNER);
    expect(toBoard.status).toBe(200);
    expect(toBoard.body).toBe("board answered /queue/generations?status=failed");
  });

  it("answers a stranger 403 on every admin path and never reaches the upstream", async () => {
    const counts = () => ({
      n8n: n8n.paths.length,
      directus: directus.paths.length,
      grafana: grafana.paths.length,
      board: board.paths.length,
    });
    const before = counts();
    const asked = [
      await get(https, config.n8nDomain, "/", STRANGER),
      await get(https, config.n8nDomain, "/rest/owner/setup", STRANGER, { method: "POST" }),
      await get(https, config.n8nDomain, "/webhook-test/anything", STRANGER),
      await get(https, config.directusDomain, "/auth/login", STRANGER, { method: "POST" }),
      await get(https, config.directusDomain, "/items/users", STRANGER),
      // A forged X-Forwarded-For naming the owner changes nothing: Caddy judges the TCP peer.
      await get(https, config.n8nDomain, "/", STRANGER, { headers: { "x-forwarded-for": OWNER } }),
      await get(https, config.grafanaDomain, "/login", STRANGER),
      await get(
        https,
        config.grafanaDomain,
        "/api/datasources/proxy/uid/tapbot-prometheus/api/v1/query",
        STRANGER,
      ),
      // The queue dashboard: not even its login challenge or its health answer reaches a stranger.
      await get(https, config.boardDomain, "/", STRANGER),
      await get(https, config.boardDomain, "/healthz", STRANGER),
      await get(https, config.boardDomain, "/api/queues/generations/abc/retry", STRANGER, {
        method: "PUT",
        headers: { authorization: `Basic ${Buffer.from("owner:guess").toString("base64")}` },
      }),
    ];
    expect(asked.map((a) => a.status)).toEqual([403, 403, 403, 403, 403, 403, 403, 403, 403, 403, 403]);
    expect(asked.every((a) => a.body === "Forbidden")).toBe(true);
    expect(counts()).toEqual(before);
  });

  it("lets anyone reach n8n's production webhooks when n8nPublicWebhooks is on, and nothing else", async () => {
    const hook = await get(https, config.n8nDomain, "/webhook/order-created", STRANGER, { method: "POST" });
    expect(hook.status).toBe(200);
    expect(hook.body).toBe("n8n answered /webhook/order-created");
    expect((await get(https, config.n8nDomain, "/webhookx", STRANGER)).status).toBe(403);
    expect((await get(https, config.directusDomain, "/webhook/order-created", STRANGER)).status).toBe(403);
  });
});
