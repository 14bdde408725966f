import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parsePlainConfig } from "../../infra/config.js";
import { backupRow } from "../../infra/preflight/backup-row.js";
import { deployPorts } from "../../infra/preflight/deploy-ports.js";
import { dnsRows } from "../../infra/preflight/dns-records.js";
import { dockerDaemonRow } from "../../infra/preflight/docker-daemon.js";
import { parseDockerPorts, portRows } from "../../infra/preflight/listeners.js";
import { osRow } from "../../infra/preflight/os-release.js";
import { planRow } from "../../infra/preflight/plan-row.js";
import { QUEUE_REDIS_ABSENT, queueRedisRow } from "../../infra/preflight/queue-redis.js";
import { exitCodeOf, row } from "../../infra/preflight/row.js";
import { programView } from "../../infra/preflight/stack-settings.js";
import { renderTable } from "../../infra/preflight/table.js";
import { ufwRow } from "../../infra/preflight/ufw-rules.js";
import { ruleKey } from "../../infra/render/ufw-script.js";
import { findBinary } from "../support/find-binary.js";
import { startRedis } from "../support/redis-server.js";
import { plainStackConfig, rawStackConfig, stackPlan } from "./helpers/stack-config.js";
import { threeHostPlan } from "./helpers/three-hosts.js";

/**
 * The rows for what the throwaway hosts cannot show: a re-run where the program's own containers hold the
 * ports (docker-proxy), IPv6 and wildcard listeners, rules the allowlist inserts at the top, AAAA records.
 * Inputs are what the real tools print (ss 6.x, docker ps --format, ufw show added).
 */
describe("preflight rows from real tool output", () => {
  const caddy = [
    { proto: "tcp" as const, port: 443, ip: "0.0.0.0", what: "Caddy (HTTPS)" },
    { proto: "udp" as const, port: 51820, ip: "0.0.0.0", what: "WireGuard (the tunnel)" },
    { proto: "tcp" as const, port: 9100, ip: "10.77.0.1", what: "node-exporter" },
  ];

  it("the automation host's metrics ports: each process's with two hosts, the metrics relay's alone with a Swarm", () => {
    const config = plainStackConfig();
    const metrics = (plan: Parameters<typeof deployPorts>[1]) =>
      deployPorts(config, plan, "automation")
        .filter((p) => /metrics/.test(p.what))
        .map((p) => `${p.ip}:${p.port} ${p.what}`);
    const two = stackPlan(300);
    expect(metrics(two)).toContain("10.77.0.1:9391 bot 1 (metrics)");
    expect(metrics(two)).toContain(`10.77.0.1:${9400 + two.workers} worker ${two.workers} (metrics)`);
    expect(metrics(two).join("\n")).not.toContain("relay");
    expect(metrics(threeHostPlan())).toEqual(["10.77.0.1:9095 the metrics relay (the Swarm tasks' metrics)"]);
  });

  it("a re-run: 443 held by the program's own tapbot-caddy through docker-proxy is fine", () => {
    const ss = [
      'tcp   LISTEN 0      4096         0.0.0.0:443        0.0.0.0:*    users:(("docker-proxy",pid=2211,fd=7))',
      'tcp   LISTEN 0      4096            [::]:443           [::]:*    users:(("docker-proxy",pid=2218,fd=7))',
    ].join("\n");
    const docker = parseDockerPorts(
      "tapbot-caddy|0.0.0.0:80->80/tcp, 0.0.0.0:443->443/tcp, :::443->443/tcp\n",
    );
    expect(portRows("automation", ss, caddy, docker)).toEqual([
      expect.objectContaining({ status: "ok", check: "ports" }),
    ]);
  });

  it("names the old bot's container behind docker-proxy, and an IPv6 wildcard listener collides too", () => {
    const ss = [
      'tcp   LISTEN 0      4096            [::]:443           [::]:*    users:(("docker-proxy",pid=812,fd=4))',
      "udp   UNCONN 0      0            0.0.0.0:51820      0.0.0.0:*",
      'tcp   LISTEN 0      4096        127.0.0.1:9100      0.0.0.0:*    users:(("node_exporter",pid=640,fd=3))',
    ].join("\n");
    const rows = portRows("automation", ss, caddy, parseDockerPorts("oldbot-nginx|:::443->443/tcp\n"));
    expect(rows.map((r) => [r.status, r.found])).toEqual([
      [
        "block",
        "443/tcp on :: is held by container oldbot-nginx (docker-proxy (pid 812)); the deploy binds it for Caddy (HTTPS)",
      ],
      [
        "block",
        "51820/udp on 0.0.0.0 is held by a process ss cannot name (run as root); the deploy binds it for WireGuard (the tunnel)",
      ],
    ]);
    expect(exitCodeOf(rows)).toBe(1);
  });

  it("rules the program inserts at the top (the allowlist) match how ufw lists them", () => {
    expect(ruleKey("ufw insert 1 allow from 198.51.100.7 to any port 22 proto tcp comment 'owner'")).toBe(
      "allow from 198.51.100.7 to any port 22 proto tcp",
    );
    expect(
      ruleKey("  ufw prepend allow from 2001:db8:77::/48 to any port 22 proto tcp comment 'owner v6'"),
    ).toBe("allow from 2001:db8:77::/48 to any port 22 proto tcp");
    const shown = [
      "Status: active",
      "Added user rules (see 'ufw status' for running firewall):",
      "ufw allow from 198.51.100.7 to any port 22 proto tcp comment 'owner'",
      "ufw limit 22/tcp",
      "ufw allow 5432/tcp",
    ].join("\n");
    const program = ["allow from 198.51.100.7 to any port 22 proto tcp", "limit 22/tcp"];
    expect(ufwRow("data", shown, program)).toMatchObject({
      status: "warn",
      found: 'active; 1 rule(s) the deploy does not write and will not remove: "allow 5432/tcp"',
      todo: "remove each you no longer need: ufw delete allow 5432/tcp; or set tapbot:removeForeignUfwRules true and the deploy removes them all",
    });
    // With tapbot:removeForeignUfwRules the deploy removes them: listed, not a warning.
    expect(ufwRow("data", shown, program, true)).toMatchObject({
      status: "ok",
      found:
        'active; the deploy removes 1 rule(s) it does not write (tapbot:removeForeignUfwRules): "allow 5432/tcp"',
    });
    expect(ufwRow("data", "ufw: not installed\n", program)).toMatchObject({ status: "ok" });
  });

  it("daemon.json already as the deploy writes it is ok; one it cannot parse blocks", () => {
    const settings = { dockerLogMaxSize: "10m", dockerLogMaxFile: 3 };
    const same =
      '{"log-driver":"json-file","log-opts":{"max-size":"10m","max-file":"3"},"live-restore":true}';
    expect(dockerDaemonRow("data", same, settings)).toMatchObject({
      status: "ok",
      found: "already what the deploy writes",
    });
    expect(dockerDaemonRow("data", '{ "log-driver": "json-file", }', settings).status).toBe("block");
  });

  it("daemon.json: the owner's settings are kept (data-root included), only replaced log options warn", () => {
    const settings = { dockerLogMaxSize: "10m", dockerLogMaxFile: 3 };
    const owned = dockerDaemonRow(
      "data",
      '{ "data-root": "/mnt/docker", "insecure-registries": ["10.0.0.5:5000"], "log-opts": { "max-size": "50m" } }',
      settings,
    );
    expect(owned.status).toBe("ok");
    expect(owned.found).toContain("the rest kept, the old file backed up beside it");
    expect(owned.found).toContain('changed: log-opts.max-size "50m" → "10m"');
    const added = owned.found.split("added: ")[1]?.split(", ").sort();
    expect(added).toEqual(["live-restore true", 'log-driver "json-file"', 'log-opts.max-file "3"']);
    expect(owned.found).not.toContain("data-root");
    const journald = dockerDaemonRow(
      "data",
      '{ "log-driver": "journald", "log-opts": { "tag": "{{.Name}}" } }',
      settings,
    );
    expect(journald.status).toBe("warn");
    expect(journald.found).toContain('dropped: log-opts.tag "{{.Name}}"');
    expect(journald.found).toContain('changed: log-driver "journald" → "json-file"');
    expect(dockerDaemonRow("data", '["json-file"]', settings)).toMatchObject({
      status: "block",
      found: "/etc/docker/daemon.json is not a JSON object",
    });
  });

  it("an AAAA record beside the right A record warns, a resolver failure warns, neither blocks", () => {
    const rows = dnsRows(
      [
        { name: "bot.tapbot.kz", a: ["93.189.229.59"], aaaa: ["2a00:db8::1"] },
        { name: "n8n.tapbot.kz", a: [], aaaa: [], error: "ETIMEOUT" },
      ],
      "93.189.229.59",
    );
    expect(rows.map((r) => r.status)).toEqual(["warn", "warn"]);
    expect(rows[0]?.found).toBe("A 93.189.229.59, and AAAA 2a00:db8::1");
    expect(exitCodeOf(rows)).toBe(0);
  });

  it("an Ubuntu release other than 22.04 and 24.04 blocks", () => {
    expect(
      osRow("automation", 'ID=ubuntu\nVERSION_ID="20.04"\nPRETTY_NAME="Ubuntu 20.04.6 LTS"\n'),
    ).toMatchObject({
      status: "block",
      found: "Ubuntu 20.04.6 LTS: the deploy supports Ubuntu 22.04 and 24.04 only",
    });
  });

  it("a plan pulumi up would refuse blocks with the model's own findings, unless allowCapacityErrors is set", () => {
    const big = stackPlan(5000);
    const errors = big.findings.filter((f) => f.severity === "error");
    expect(errors.length).toBeGreaterThan(0);
    const refused = planRow(big, false);
    expect(refused.status).toBe("block");
    for (const f of errors) expect(refused.found).toContain(`${f.code}: ${f.message}`);
    expect(refused.todo).toContain("tapbot:allowCapacityErrors true");
    expect(planRow(big, true).status).toBe("warn");
    const fits = stackPlan(300);
    expect(planRow(fits, false)).toMatchObject({
      status: "ok",
      found: `300 users: ${fits.workers} workers × ${fits.workerConcurrency}, ${fits.hosts.map((h) => `${h.name} ${Math.round(h.utilization * 100)} % RAM`).join(", ")}`,
    });
  });

  it("backups: no offsite copy warns, a missing secret blocks, a complete one names the repository", () => {
    const stack = (extra: Record<string, unknown>) =>
      parsePlainConfig(
        programView({
          ...Object.fromEntries(
            Object.entries(rawStackConfig(300)).map(([k, v]) => [
              k,
              k === "tapbot:capacity" ? JSON.parse(v) : v,
            ]),
          ),
          ...extra,
        }),
      );
    expect(backupRow(stack({}), [])).toMatchObject({ check: "backups", status: "warn" });
    // As Pulumi.<stack>.yaml holds it after `pulumi config set --path offsiteBackup.…`: a mapping.
    const offsite = stack({
      "tapbot:offsiteBackup": {
        endpoint: "https://s3.ru1.storage.beget.cloud",
        bucket: "tapbot-backups",
        accessKeyId: "KEY1",
      },
    });
    expect(backupRow(offsite, ["offsiteBackupPassword"])).toMatchObject({
      status: "block",
      found: expect.stringContaining("not tapbot:offsiteBackupSecretAccessKey"),
      todo: "pulumi config set --secret offsiteBackupSecretAccessKey",
    });
    expect(backupRow(offsite, ["offsiteBackupPassword", "offsiteBackupSecretAccessKey"])).toEqual(
      row(
        "backups",
        "offsite",
        "ok",
        "restic to s3:https://s3.ru1.storage.beget.cloud/tapbot-backups/tapbot/data and …/automation; per store keeps 7 daily, 4 weekly, 6 monthly",
      ),
    );
  });

  it("the table wraps long findings inside their column and ends with the counts", () => {
    const long = "a ".repeat(50).trim();
    const text = renderTable([
      row("ufw", "automation", "warn", long, "do this"),
      row("os", "data", "ok", "Ubuntu 24.04"),
    ]);
    const lines = text.split("\n");
    expect(lines[0]).toMatch(/^check\s+host\s+status\s+found\s+what to do$/);
    expect(lines.filter((l) => l.startsWith("ufw"))[0]).toMatch(/warn\s+a a a .* a\s+do this$/);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(160);
    expect(text.trimEnd().split("\n").at(-1)).toBe(
      "1 ok, 1 warn, 0 block: nothing blocks the first `pulumi up` (exit 0)",
    );
  });

  it("the queue Redis: none yet is fine, AOF is fine, RDB alone warns, nothing on disk blocks (real redis-cli)", async () => {
    const settings = stackPlan(300).redis;
    const cli = await findBinary("redis-cli", [], "apt-get install redis-tools");
    /** What the probe prints inside the container: CONFIG GET appendonly, then CONFIG GET save. */
    const probe = async (args: { appendOnly?: boolean; args?: string[] }) => {
      const redis = await startRedis(args);
      try {
        const get = (name: string) =>
          promisify(execFile)(cli, ["-p", String(redis.port), "CONFIG", "GET", name]).then((r) => r.stdout);
        return `${await get("appendonly")}${await get("save")}`;
      } finally {
        await redis.stop();
      }
    };
    expect(queueRedisRow(`${QUEUE_REDIS_ABSENT}\n`, settings)).toMatchObject({
      status: "ok",
      found: "the deploy runs tapbot-redis with appendonly yes, appendfsync everysec; none runs yet",
    });
    expect(queueRedisRow(await probe({ appendOnly: true }), settings)).toMatchObject({
      status: "ok",
      found:
        "tapbot-redis runs with appendonly yes; the deploy runs tapbot-redis with appendonly yes, appendfsync everysec",
    });
    const rdb = queueRedisRow(await probe({ args: ["--save", "60 1"] }), settings);
    expect(rdb).toMatchObject({ status: "warn" });
    expect(rdb.found).toMatch(/^tapbot-redis runs with appendonly no and RDB saves only \(save "60 1"\)/);
    const none = queueRedisRow(await probe({}), settings);
    expect(none.status).toBe("block");
    expect(none.found).toMatch(/appendonly no and no RDB saves: a restart loses every queued job/);
    expect(none.todo).toContain("redis-cli CONFIG SET appendonly yes");
    expect(queueRedisRow("Error response from daemon: container is restarting\n", settings).status).toBe(
      "warn",
    );
  }, 30_000);
});
