import { execFile, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { SCALAR_DEFAULTS, SYSTEM_RESERVE_MB_DEFAULT } from "../../capacity/defaults.js";
import { hostPlan } from "../../infra/plan-services.js";
import { Redactor } from "../../infra/preflight/redact.js";
import { exitCodeOf, type PreflightRow } from "../../infra/preflight/row.js";
import { runPreflight } from "../../infra/preflight/run-preflight.js";
import { programUfwRules } from "../../infra/preflight/ufw-rules.js";
import type { RunningChild } from "../support/child-process.js";
import { type DnsServer, startDnsServer } from "../support/dns-server.js";
import { type FakeFal, startFakeFal } from "../support/fake-fal.js";
import { type FakeTelegram, startFakeTelegram } from "../support/fake-telegram.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { ThrowawayHost } from "../support/throwaway-host.js";
import { plainStackConfig, rawStackConfig, stackCapacity, stackPlan } from "./helpers/stack-config.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const UBUNTU_2404 =
  'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n';
const UBUNTU_2204 = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n';
const DEBIAN_11 =
  'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\nVERSION_ID="11"\nID=debian\n';
const meminfo = (totalMB: number, availableMB: number) =>
  `MemTotal:       ${totalMB * 1024} kB\nMemFree:        ${Math.round(availableMB * 0.6) * 1024} kB\nMemAvailable:   ${availableMB * 1024} kB\nBuffers:          102400 kB\nCached:          ${Math.round(availableMB * 0.3) * 1024} kB\nSwapTotal:             0 kB\nSwapFree:              0 kB\n`;

/** The old daemon.json of the automation host: longer logs and a registry the old bot pulled from. */
const OLD_DAEMON_JSON = `{\n  "log-driver": "json-file",\n  "log-opts": { "max-size": "50m" },\n  "insecure-registries": ["10.0.0.5:5000"]\n}\n`;

let automation: ThrowawayHost;
let data: ThrowawayHost;
let legacy: ThrowawayHost;
let dns: DnsServer;
let telegram: FakeTelegram;
let fal: FakeFal;
let dir: string;
const started: RunningChild[] = [];

beforeAll(async () => {
  dir = await makeTempDir("preflight");
  const clientKey = join(dir, "owner_ed25519");
  await promisify(execFile)("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
  [automation, data, legacy] = await Promise.all([
    ThrowawayHost.start({
      osRelease: UBUNTU_2404,
      meminfo: meminfo(3921, 3610),
      dockerDiskSize: "10g",
      daemonJson: OLD_DAEMON_JSON,
      clientKey,
      users: [
        { name: "deploy", sudo: true },
        { name: "nosudo", sudo: false },
      ],
    }),
    ThrowawayHost.start({
      osRelease: UBUNTU_2204,
      meminfo: meminfo(3921, 3500),
      dockerDiskSize: "30g",
      clientKey,
      users: [
        { name: "deploy", sudo: true },
        { name: "nosudo", sudo: false },
      ],
    }),
    ThrowawayHost.start({
      osRelease: DEBIAN_11,
      meminfo: meminfo(1950, 900),
      dockerDiskSize: "8g",
      daemonJson: '{ "data-root": "/mnt/docker" }\n',
      clientKey,
    }),
  ]);
  // The automation host already carries the rules the program writes (a re-run) and one the owner opened by
  // hand for the old bot, written by the real ufw on the host's own copy of its files.
  for (const rule of [
    ...programUfwRules(stackConfig(), "automation"),
    "allow 8080/tcp comment 'old bot admin'",
  ]) {
    await automation.runInside("sh", ["-c", `ufw ${rule}`]);
  }
  dns = await startDnsServer({
    "bot.tapbot.kz": { a: [automation.address] },
    "n8n.tapbot.kz": { a: [automation.address] },
    "directus.tapbot.kz": { a: [automation.address] },
    "grafana.tapbot.kz": { a: [automation.address] },
    "queue.tapbot.kz": { a: [automation.address] },
    "old.tapbot.kz": { a: ["192.0.2.80"] },
  });
  telegram = await startFakeTelegram();
  fal = await startFakeFal();
}, 120_000);

afterAll(async () => {
  await Promise.all([
    automation?.stop(),
    data?.stop(),
    legacy?.stop(),
    dns?.stop(),
    telegram?.stop(),
    fal?.stop(),
  ]);
  if (dir !== undefined) await removeTempDir(dir);
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((child) => child.stop("SIGTERM", 5_000)));
  await telegramApi("deleteWebhook");
});

function telegramApi(method: string, params: Record<string, unknown> = {}) {
  return fetch(`${telegram.apiRoot}/bot${telegram.token}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(params),
  });
}

/** The owner's stack with the throwaway hosts' addresses (as the program parses it). */
/** The program's view of the stack writeStack writes (the same owner address, the hosts' addresses). */
function stackConfig() {
  return {
    ...plainStackConfig(300),
    adminAllowIps: [OWNER_ADDRESS, automation.clientAddress, data.clientAddress],
    automationHost: automation.address,
    dataHost: data.address,
  };
}

const OWNER_ADDRESS = "198.51.100.7";

/** Pulumi.<stack>.yaml for the throwaway hosts: the owner's stack with their addresses and pinned keys. */
async function writeStack(
  stack: string,
  overrides: Record<string, string> = {},
  dataHost = data,
  allowIps = [OWNER_ADDRESS, automation.clientAddress, dataHost.clientAddress],
): Promise<void> {
  const config: Record<string, unknown> = { ...rawStackConfig(300) };
  delete config["tapbot:adminAllowIps"];
  Object.assign(config, {
    // Where the hosts see this process's connections come from, as the owner's address would be.
    "tapbot:adminAllowIps": allowIps,
    "tapbot:capacity": { ...stackCapacity(300), calibration: join(REPO_ROOT, "capacity/calibration.json") },
    "tapbot:automationHost": automation.address,
    "tapbot:automationHostKey": automation.hostKey,
    "tapbot:dataHost": dataHost.address,
    "tapbot:dataHostKey": dataHost.hostKey,
    "tapbot:sshUser": "root",
    "tapbot:sshPort": "22",
    ...Object.fromEntries(Object.entries(overrides).map(([k, v]) => [`tapbot:${k}`, v])),
  });
  await writeFile(join(dir, `Pulumi.${stack}.yaml`), stringify({ config }));
}

/** Runs preflight in this process, as main does, and gives the rows and the exit code. */
async function preflight(stack: string, env: Record<string, string> = {}) {
  const rows = await runPreflight(
    { help: false, stack, stackDir: dir, identity: automation.identityFile, dnsServer: dns.server },
    {
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        FAL_KEY: fal.key,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        FAL_QUEUE_URL: fal.queueUrl,
        ...env,
      },
      pollSeconds: 2,
      redactor: new Redactor(),
    },
  );
  return { rows, exit: exitCodeOf(rows) };
}

const find = (rows: PreflightRow[], check: string, host: string) =>
  rows.filter((r) => r.check === check && r.host === host);
const one = (rows: PreflightRow[], check: string, host: string) => {
  const found = find(rows, check, host);
  expect(found, `${check} on ${host}: ${JSON.stringify(rows, null, 1)}`).toHaveLength(1);
  return found[0] as PreflightRow;
};

describe("npm run preflight against two throwaway Ubuntu hosts, the fake Telegram and fal", () => {
  it("passes servers ready for the deploy (exit 0), warning about the old UFW rule, over one SSH connection per host", async () => {
    await writeStack("ready");
    const before = [automation.acceptedConnections(), data.acceptedConnections()];
    const rulesBefore = (await automation.runInside("ufw", ["show", "added"])).stdout;
    const { rows, exit } = await preflight("ready");

    expect(rows.filter((r) => r.status === "block")).toEqual([]);
    expect(exit).toBe(0);
    expect(rows[0]).toMatchObject({ check: "plan", host: "capacity", status: "ok" });
    // The stack has no offsite backup: the deploy works, but the owner is told what has no copy.
    expect(one(rows, "backups", "offsite")).toMatchObject({
      status: "warn",
      found: expect.stringContaining("n8n, Qdrant and Directus uploads have no backup"),
    });
    for (const host of ["automation", "data"]) {
      expect(one(rows, "ssh", host).status).toBe("ok");
      expect(one(rows, "your address", host).status).toBe("ok");
      expect(one(rows, "ram", host).status).toBe("ok");
      expect(one(rows, "disk", host).status).toBe("ok");
      expect(one(rows, "ports", host)).toMatchObject({ status: "ok" });
    }
    expect(one(rows, "your address", "automation").found).toBe(
      `${automation.clientAddress} (as the host sees you) is in tapbot:adminAllowIps (${automation.clientAddress}): never rate-limited or banned`,
    );
    expect(one(rows, "os", "automation")).toMatchObject({ status: "ok", found: "Ubuntu 24.04.1 LTS" });
    expect(one(rows, "os", "data")).toMatchObject({ status: "ok", found: "Ubuntu 22.04.4 LTS" });
    // The plan's own numbers for the stack: its containers on the automation host, what the data host's disk gets.
    const plan = stackPlan(300);
    const [automationPlan, dataPlan] = [hostPlan(plan, "automation"), hostPlan(plan, "data")];
    expect(one(rows, "ram", "automation").found).toBe(
      `3610 MB free of 3921 MB; the plan's containers need ${Math.round(automationPlan.usedMB - SYSTEM_RESERVE_MB_DEFAULT)} MB`,
    );
    expect(one(rows, "disk", "data").found).toBe(
      `30.0 GB free of 30.0 GB on /var/lib/docker; the deploy adds about ${(dataPlan.disk.usedGB - SCALAR_DEFAULTS.systemDiskGB).toFixed(1)} GB (images, volumes, logs)`,
    );

    // Only the rule the program does not write is reported, with the command that removes it.
    const ufw = one(rows, "ufw", "automation");
    expect(ufw.status).toBe("warn");
    expect(ufw.found).toContain('1 rule(s) the deploy does not write and will not remove: "allow 8080/tcp"');
    expect(ufw.todo).toBe(
      "remove each you no longer need: ufw delete allow 8080/tcp; or set tapbot:removeForeignUfwRules true and the deploy removes them all",
    );
    expect(one(rows, "ufw", "data")).toMatchObject({
      status: "ok",
      found: `inactive, no rules besides the deploy's ${programUfwRules(stackConfig(), "data").length}`,
    });

    const daemon = one(rows, "daemon.json", "automation");
    // Merged, not replaced: the old bot's registry stays, the log size becomes the stack's.
    expect(daemon.status).toBe("ok");
    expect(daemon.found).not.toContain("insecure-registries");
    expect(daemon.found).toContain('changed: log-opts.max-size "50m" → "10m"');
    expect(daemon.found).toContain('added: log-opts.max-file "3", live-restore true');
    expect(one(rows, "daemon.json", "data").status).toBe("ok");
    // No queue Redis runs yet (no Docker here): the program's own renders AOF; the data host has none to check.
    expect(one(rows, "queue redis", "automation")).toMatchObject({
      status: "ok",
      found: "the deploy runs tapbot-redis with appendonly yes, appendfsync everysec; none runs yet",
    });
    expect(find(rows, "queue redis", "data")).toEqual([]);

    for (const name of [
      "bot.tapbot.kz",
      "n8n.tapbot.kz",
      "directus.tapbot.kz",
      "grafana.tapbot.kz",
      "queue.tapbot.kz",
    ]) {
      expect(one(rows, "dns", name)).toMatchObject({ status: "ok", found: `A ${automation.address}` });
    }
    expect(one(rows, "telegram token", "telegram")).toMatchObject({ status: "ok" });
    expect(one(rows, "telegram token", "telegram").found).toMatch(/^the token is @\w+'s \(id \d+\)$/);
    expect(one(rows, "telegram webhook", "telegram")).toMatchObject({
      status: "ok",
      found: "none set; the new bot sets https://bot.tapbot.kz/telegram/webhook",
    });
    expect(one(rows, "telegram poller", "telegram")).toMatchObject({
      status: "ok",
      found: "no other poller within 2 s",
    });
    expect(one(rows, "fal key", "fal")).toMatchObject({ status: "ok" });

    // Every command ran over one authenticated connection per host.
    expect([
      automation.acceptedConnections() - (before[0] ?? 0),
      data.acceptedConnections() - (before[1] ?? 0),
    ]).toEqual([1, 1]);
    // Read-only: the host's rules are as they were, and getUpdates confirmed nothing (no offset).
    expect((await automation.runInside("ufw", ["show", "added"])).stdout).toBe(rulesBefore);
    expect(telegram.callsTo("getUpdates").every((call) => call.params.offset === undefined)).toBe(true);
  }, 120_000);

  it("finds the old bot: its process on 443, its Redis, its webhook (exit 1)", async () => {
    await writeStack("oldbot");
    started.push(
      automation.startInside(process.execPath, [
        "-e",
        "process.title='old-bot';require('node:net').createServer().listen(443,'0.0.0.0',()=>console.log('ready'))",
      ]),
      automation.startInside("redis-server", [
        "--port",
        "6379",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
      ]),
    );
    await started[0]?.waitForLine(/^ready$/, 10_000);
    await started[1]?.waitForLine(/Ready to accept connections/, 10_000);
    await telegramApi("setWebhook", { url: "https://old.tapbot.kz/hook" });

    const { rows, exit } = await preflight("oldbot");
    expect(exit).toBe(1);
    const ports = find(rows, "ports", "automation");
    expect(ports.find((r) => r.status === "block")?.found).toMatch(
      /^443\/tcp on 0\.0\.0\.0 is held by old-bot \(pid \d+\); the deploy binds it for Caddy \(HTTPS\)$/,
    );
    expect(ports.find((r) => r.status === "warn")?.found).toMatch(
      /^Redis listens on 127\.0\.0\.1:6379: redis-server \(pid \d+\); the plan does not count its RAM$/,
    );
    expect(one(rows, "telegram webhook", "telegram")).toMatchObject({
      status: "block",
      found: "a webhook to https://old.tapbot.kz/hook is set: the old bot receives the updates (0 pending)",
    });
    expect(find(rows, "telegram poller", "telegram")).toEqual([]);
  }, 120_000);

  it("finds a second poller with the same token: getUpdates answers 409 Conflict (exit 1)", async () => {
    await writeStack("poller");
    let polling = true;
    const oldBot = (async () => {
      while (polling) {
        const answer = await telegramApi("getUpdates", { timeout: 1 }).catch(() => undefined);
        if (answer?.status === 409) await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      const { rows, exit } = await preflight("poller");
      expect(exit).toBe(1);
      expect(one(rows, "telegram poller", "telegram")).toMatchObject({
        status: "block",
        found:
          "another process polls with this token: getUpdates was cut off by another (409 Conflict: terminated by other getUpdates request; make sure that only one bot instance is running)",
      });
    } finally {
      polling = false;
      await oldBot;
    }
  }, 120_000);

  it("blocks an unsupported OS, too little RAM and disk, wrong DNS and rejected keys, and keeps an old data-root", async () => {
    await writeStack(
      "legacy",
      { grafanaDomain: "old.tapbot.kz", directusDomain: "nowhere.tapbot.kz" },
      legacy,
      // The owner forgot the address he reaches the data host from.
      [OWNER_ADDRESS, automation.clientAddress],
    );
    const { rows, exit } = await preflight("legacy", {
      TELEGRAM_BOT_TOKEN: "123456:not-the-token-of-this-bot",
      FAL_KEY: "wrong-key:0000",
    });
    expect(exit).toBe(1);
    expect(one(rows, "os", "data")).toMatchObject({
      status: "block",
      found: "Debian GNU/Linux 11 (bullseye): the deploy supports Ubuntu 22.04 and 24.04 only",
    });
    expect(one(rows, "your address", "automation").status).toBe("ok");
    expect(one(rows, "your address", "data")).toMatchObject({
      status: "block",
      found: `${legacy.clientAddress} (as the host sees you) is not in tapbot:adminAllowIps (${OWNER_ADDRESS}, ${automation.clientAddress}); UFW will refuse its 7th new SSH connection within 30 s, and \`pulumi up\` opens more than that`,
      todo: `pulumi config set --path 'adminAllowIps[2]' ${legacy.clientAddress} (or run \`pulumi up\` from a listed address)`,
    });
    expect(one(rows, "ram", "data").status).toBe("block");
    expect(one(rows, "ram", "data").found).toMatch(
      new RegExp(
        `^1950 MB RAM; the plan for 300 users needs ${Math.round(hostPlan(stackPlan(300), "data").usedMB)} MB here`,
      ),
    );
    expect(one(rows, "disk", "data").status).toBe("block");
    // The old data-root is kept by the merge, so it no longer blocks.
    expect(one(rows, "daemon.json", "data").status).toBe("ok");
    expect(one(rows, "daemon.json", "data").found).not.toContain("data-root");
    expect(one(rows, "dns", "old.tapbot.kz")).toMatchObject({
      status: "block",
      found: `A 192.0.2.80; the automation host is ${automation.address}`,
    });
    expect(one(rows, "dns", "nowhere.tapbot.kz")).toMatchObject({ status: "block", found: "no A record" });
    expect(one(rows, "telegram token", "telegram")).toMatchObject({
      status: "block",
      found: "Telegram refuses the token (401 Unauthorized)",
    });
    expect(one(rows, "fal key", "fal")).toMatchObject({
      status: "block",
      found: "fal refuses the key (401 Invalid API key)",
    });
  }, 120_000);

  it("refuses a host that answers with another key than the pinned one before running anything, and a truncated fal key before sending it", async () => {
    await writeStack("impostor", { dataHostKey: legacy.hostKey });
    const before = data.acceptedConnections();
    const started = Date.now();
    const { rows, exit } = await preflight("impostor", { FAL_KEY: "abc123" });
    expect(exit).toBe(1);
    const ssh = one(rows, "ssh", "data");
    expect(ssh).toMatchObject({
      status: "block",
      found: `root@${data.address}:22: Host key verification failed.`,
    });
    expect(ssh.todo).toMatch(/^the host answered with another key than tapbot:dataHostKey \(SHA256:/);
    expect(find(rows, "os", "data")).toEqual([]);
    expect(data.acceptedConnections()).toBe(before);
    // A truncated fal key is caught without sending it.
    expect(one(rows, "fal key", "fal")).toMatchObject({
      status: "block",
      found: "6 characters, shorter than any valid one (at least 8), so it was not sent",
    });
    expect(fal.calls.filter((call) => call.at >= started)).toEqual([]);
  }, 120_000);

  it("as a non-root SSH user, reads what needs root through sudo -n; without passwordless sudo, blocks naming the commands", async () => {
    started.push(
      automation.startInside(process.execPath, [
        "-e",
        "process.title='old-bot';require('node:net').createServer().listen(443,'0.0.0.0',()=>console.log('ready'))",
      ]),
    );
    await started[0]?.waitForLine(/^ready$/, 10_000);
    await writeStack("ready");
    await writeStack("deploy", { sshUser: "deploy" });
    await writeStack("nosudo", { sshUser: "nosudo" });
    const [asRoot, withSudo, withoutSudo] = [
      await preflight("ready"),
      await preflight("deploy"),
      await preflight("nosudo"),
    ];

    // With sudo the rows are the ones root gets: the process behind 443 is named, the old UFW rule found.
    const hostChecks = (rows: PreflightRow[]) =>
      rows
        .filter((r) => r.check !== "ssh" && !r.check.startsWith("telegram"))
        .map((r) => [r.check, r.host, r.status, r.found.replace(/pid \d+/, "pid N")]);
    expect(hostChecks(withSudo.rows)).toEqual(hostChecks(asRoot.rows));
    expect(one(withSudo.rows, "ssh", "automation").found).toMatch(/^deploy@/);
    expect(find(withSudo.rows, "ports", "automation")[0]?.found).toMatch(/is held by old-bot \(pid \d+\)/);

    // Without sudo: what needs root blocks (every host script of the deploy runs with sudo -n), naming the
    // command and the fix; the rest is still judged.
    expect(withoutSudo.exit).toBe(1);
    expect(one(withoutSudo.rows, "ports", "automation")).toMatchObject({
      status: "block",
      found: "could not read: `sudo ss -ltunp` failed (exit 1): sudo: a password is required",
      todo: "give nosudo passwordless sudo (the deploy runs every host script with sudo -n), or use root",
    });
    expect(one(withoutSudo.rows, "ufw", "automation")).toMatchObject({
      status: "block",
      found:
        "could not read: `sudo ufw status; ufw show added` failed (exit 1): sudo: a password is required",
    });
    expect(one(withoutSudo.rows, "os", "automation").status).toBe("ok");
    expect(one(withoutSudo.rows, "ram", "automation").status).toBe("ok");
  }, 120_000);

  it("the CLI prints the table without any secret, even in a webhook URL that carries the token, and exits 1", async () => {
    await writeStack("cli");
    await telegramApi("setWebhook", { url: `https://old.tapbot.kz/${telegram.token}` });
    const result = await new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn(
        join(REPO_ROOT, "node_modules/.bin/tsx"),
        [
          "infra/preflight/main.ts",
          "--stack",
          "cli",
          "--stack-dir",
          dir,
          "--identity",
          automation.identityFile,
          "--dns-server",
          dns.server,
        ],
        {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            TELEGRAM_BOT_TOKEN: telegram.token,
            FAL_KEY: fal.key,
            TELEGRAM_API_ROOT: telegram.apiRoot,
            FAL_QUEUE_URL: fal.queueUrl,
          },
        },
      );
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.on("close", (code) => done({ code, out }));
    });
    expect(result.code, result.out).toBe(1);
    expect(result.out).toMatch(/^check\s+host\s+status\s+found\s+what to do$/m);
    expect(result.out).toMatch(
      /^telegram webhook\s+telegram\s+block\s+a webhook to https:\/\/old\.tapbot\.kz\/<secret> is set/m,
    );
    expect(result.out).toMatch(/^\d+ ok, \d+ warn, 1 block: fix every block before `pulumi up` \(exit 1\)$/m);
    expect(result.out).not.toContain(telegram.token);
    expect(result.out).not.toContain(telegram.token.split(":")[1]);
    expect(result.out).not.toContain(fal.key);
  }, 120_000);
});
