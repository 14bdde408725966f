import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { backupScripts } from "../../infra/backup-plan.js";
import {
  type HostScript,
  hardeningScripts,
  PROXY_PUBLIC_PORTS,
  tunnelScript,
} from "../../infra/host-scripts.js";
import { hostPlan } from "../../infra/plan-services.js";
import { renderAppImageScript } from "../../infra/render/app-image-script.js";
import { renderBackupEnvInstallScript } from "../../infra/render/backup-env.js";
import { renderBackupInstallScript, renderBackupScript } from "../../infra/render/backup-script.js";
import { renderDockerUserApplyScript, renderUfwAfterInit } from "../../infra/render/docker-user-rules.js";
import { pgDumpHostFile, renderPgDumpScript } from "../../infra/render/pg-backup.js";
import { appDbPassword } from "../../infra/render/postgres-app-role.js";
import { directusDbPassword } from "../../infra/render/postgres-directus-role.js";
import { exporterDbPassword } from "../../infra/render/postgres-exporter-role.js";
import { renderPostgresRolesScript } from "../../infra/render/postgres-roles-script.js";
import { installFileLines, scriptPrelude } from "../../infra/render/shell-script.js";
import {
  renderStackDeployScript,
  renderSwarmInitScript,
  renderSwarmJoinScript,
  renderSwarmLabelScript,
  renderSwarmTokenScript,
} from "../../infra/render/swarm-scripts.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig, TEST_HOST_KEYS, wireguardPublicKey } from "./helpers/stack-config.js";

const config = plainStackConfig(300);
const backup = {
  dir: "/var/backups/tapbot-postgres",
  retentionDays: 7,
  container: "tapbot-postgres",
  database: "tapbot",
  user: "tapbot",
};

/** Every script the program runs on a host, for both hosts, with the swap the plan gives at 1 and 1 000 users. */
const scripts: HostScript[] = [
  ...[1, 1000].flatMap((users) => {
    const planned = plan(parsePlanInput({ users }));
    return (["automation", "data"] as const).flatMap((role) =>
      hardeningScripts(config, {
        role,
        swapMB: hostPlan(planned, role).swapMB,
        runsRedis: role === "automation",
      }).map((s) => ({ ...s, name: `${role}-${users}-users/${s.name}` })),
    );
  }),
  {
    ...(hardeningScripts(
      { ...config, removeForeignUfwRules: true },
      { role: "data", swapMB: 1024, runsRedis: false },
    ).find((s) => s.name === "ufw") ?? { name: "", script: "" }),
    name: "data/ufw-removing-foreign-rules",
  },
  // The Swarm's scripts (more than two hosts).
  { name: "swarm/init", script: renderSwarmInitScript({ address: "10.77.0.1", hostName: "automation" }) },
  { name: "swarm/token", script: renderSwarmTokenScript() },
  {
    name: "swarm/join",
    script: renderSwarmJoinScript({
      address: "10.77.0.3",
      managerAddress: "10.77.0.1",
      token: "SWMTKN-1-abc-def",
    }),
  },
  { name: "swarm/label", script: renderSwarmLabelScript("abcdefghijklmnopqrstuvwxy", "worker-1") },
  {
    name: "swarm/stack-deploy",
    script: renderStackDeployScript({
      stack: "tapbot",
      stackFile: "version: '3.8'\nservices: {}\n",
      secrets: [{ name: "tapbot_fal_key_0123456789abcdef", value: "it's a $secret" }],
    }),
  },
  { ...tunnelScript(config, "automation", wireguardPublicKey()), name: "automation/wireguard" },
  { ...tunnelScript(config, "data", wireguardPublicKey()), name: "data/wireguard" },
  ...[22, 2222].map((port) => ({
    name: `local/app-image-port-${port}`,
    script: renderAppImageScript({
      tag: "tapbot-app:0123456789abcdef",
      dockerfile: "app/Dockerfile",
      platform: "linux/amd64",
      host: { address: "203.0.113.10", user: "deploy", port, hostKey: TEST_HOST_KEYS.automation },
    }),
  })),
  // The files the docker-user step installs are heredocs there, which shellcheck does not read.
  ...(
    [
      ["automation", [...PROXY_PUBLIC_PORTS]],
      ["data", []],
    ] as const
  ).map(([role, publicPorts]) => ({
    name: `${role}/docker-user-apply`,
    script: renderDockerUserApplyScript({ tunnelInterface: "wg0", publicPorts: [...publicPorts] }),
  })),
  { name: "ufw-after-init", script: renderUfwAfterInit() },
  ...[
    { label: "local-only", offsite: undefined },
    {
      label: "offsite",
      offsite: {
        endpoint: "https://s3.ru1.storage.beget.cloud",
        bucket: "tapbot-backups",
        prefix: "tapbot",
        accessKeyId: "AKIAEXAMPLE",
        keepDaily: 7,
        keepWeekly: 4,
        keepMonthly: 6,
      },
    },
  ].flatMap(({ label, offsite }) =>
    Object.entries(backupScripts({ ...config, offsiteBackup: offsite })).flatMap(([role, options]) => [
      { name: `${role}/backup-${label}`, script: renderBackupScript(options) },
      {
        name: `${role}/backup-install-${label}`,
        script: renderBackupInstallScript({
          script: renderBackupScript(options),
          files: role === "data" ? [pgDumpHostFile(backup)] : [],
        }),
      },
    ]),
  ),
  {
    name: "data/backup-env-install",
    script: renderBackupEnvInstallScript({
      repository: "s3:https://s3.ru1.storage.beget.cloud/tapbot-backups/tapbot/data",
      password: "it's a 'quoted' password",
      accessKeyId: "AKIAEXAMPLE",
      secretAccessKey: "secret/with+chars=",
      region: "ru-1",
      qdrantApiKey: "qdrant-key",
    }),
  },
  { name: "data/pg-dump", script: renderPgDumpScript(backup) },
  {
    name: "data/postgres-roles",
    script: renderPostgresRolesScript({
      container: "tapbot-postgres",
      superuser: "tapbot",
      database: "tapbot",
      passwords: {
        app: appDbPassword("x".repeat(32)),
        directus: directusDbPassword("x".repeat(32)),
        exporter: exporterDbPassword("x".repeat(32)),
      },
    }),
  },
];

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir("shellcheck");
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe("shellcheck on every rendered script", () => {
  it.each(scripts.map((s) => [s.name, s.script] as const))("%s is shellcheck-clean", async (name, script) => {
    const file = join(dir, `${name.replace("/", "-")}.sh`);
    await writeFile(file, script);
    const result = await runTool("shellcheck", ["--shell=bash", "--severity=style", file]);
    expect(result.stdout + result.stderr, `${name}:\n${script}`).toBe("");
    expect(result.code).toBe(0);
  });

  it("flags a script with an unquoted variable, so a clean result means something", async () => {
    const file = join(dir, "bad.sh");
    await writeFile(file, "#!/usr/bin/env bash\nrm -rf $1/tmp\n");
    const result = await runTool("shellcheck", ["--shell=bash", file]);
    expect(result.code).not.toBe(0);
    expect(result.stdout).toContain("SC2086");
  });
});

describe("install_file makes scripts idempotent", () => {
  it("writes a file the first time, changes nothing the second time, and rewrites it when the content changes", async () => {
    const target = join(dir, "etc", "example.conf");
    const script = (content: string) =>
      `${scriptPrelude("idempotence check")}${installFileLines({ path: target, mode: "0640", content }, ["echo changed"])}`;
    const first = await runTool("bash", ["-c", script("a = 1\n")]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("changed\n");
    const second = await runTool("bash", ["-c", script("a = 1\n")]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe("");
    const third = await runTool("bash", ["-c", script("a = 2\n")]);
    expect(third.stdout).toBe("changed\n");
    expect(await readFile(target, "utf8")).toBe("a = 2\n");
    const mode = await runTool("stat", ["-c", "%a", target]);
    expect(mode.stdout.trim()).toBe("640");
  });

  it("a file installed without a reaction does not stop the script when it is already up to date", async () => {
    const target = join(dir, "etc", "plain.conf");
    const script = `${scriptPrelude("idempotence check")}${installFileLines({ path: target, mode: "0644", content: "b = 1\n" })}echo finished\n`;
    for (const run of [1, 2]) {
      const result = await runTool("bash", ["-c", script]);
      expect(result.code, `run ${run}: ${result.stderr}`).toBe(0);
      expect(result.stdout, `run ${run}`).toBe("finished\n");
    }
    expect(await readFile(target, "utf8")).toBe("b = 1\n");
  });

  it("refuses content that would end the heredoc early", () => {
    expect(() =>
      installFileLines({ path: "/etc/x", mode: "0644", content: "x\nTAPBOT_FILE_END\ny" }),
    ).toThrow(/TAPBOT_FILE_END/);
  });
});
