import { createHash } from "node:crypto";
import bcrypt from "bcryptjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../../capacity/index.js";
import { renderPostgresSettings } from "../../infra/render/postgres-settings.js";
import {
  installMocks,
  isSecretWrapper,
  type Registered,
  registered,
  resetRegistrations,
  resolve,
  SECRET_VALUES,
  setStackConfig,
  unwrap,
} from "./helpers/pulumi-mocks.js";
import {
  plainStackConfig,
  stackCapacity,
  stackPlan,
  TEST_ADMIN_ALLOW_IPS,
  TEST_HOST_KEYS,
} from "./helpers/stack-config.js";

type Program = typeof import("../../infra/program.js");
let program: Program;

/**
 * Runs the program under mocks for `users` and returns every registration and the outputs. `allowErrors`
 * opts in to a plan with error findings, as the owner would with tapbot:allowCapacityErrors.
 */
async function deploy(users: number, allowErrors = false, overrides: Record<string, string> = {}) {
  resetRegistrations();
  setStackConfig(users, { ...(allowErrors ? { "tapbot:allowCapacityErrors": "true" } : {}), ...overrides });
  const outputs = await program.deployStack();
  const { app, data, monitoring, backups } = outputs.components;
  await Promise.all(
    [...app.workers, ...app.bots, app.board, data.directus, monitoring.prometheus].map((c) => resolve(c.id)),
  );
  await Promise.all(Object.values(backups.installs).map((r) => resolve(r?.urn)));
  return { outputs, resources: [...registered] };
}

const CONTAINER = "docker:index/container:Container";
const containers = (resources: Registered[]) => resources.filter((r) => r.type === CONTAINER);
const byName = (resources: Registered[], name: string) => {
  const found = resources.find((r) => r.name === name && r.type === CONTAINER);
  if (found === undefined) throw new Error(`no resource named ${name}`);
  return found;
};
const envOf = (container: Registered) => unwrap(container.inputs.envs) as string[];
/**
 * A secret the container gets as a file (`NAME_FILE` in its environment, the file uploaded owned by the app's
 * user, 0400, its content a Pulumi secret), as `NAME=value`; fails when it is handed over any other way.
 */
function secretOf(
  container: Registered,
  variable: string,
  uid = 1000,
  fileVariable = `${variable}_FILE`,
): string {
  const path = `/run/secrets/${variable.toLowerCase()}`;
  expect(envOf(container), container.name).toContain(`${fileVariable}=${path}`);
  expect(envOf(container).some((e) => e.startsWith(`${variable}=`))).toBe(false);
  const uploads = unwrap(container.inputs.uploads) as Record<string, unknown>[];
  const upload = uploads.find((u) => u.file === path);
  expect(upload, `${container.name} ${path}`).toMatchObject({
    owner: String(uid),
    group: String(uid),
    permissions: "0400",
  });
  // Secret content makes the whole list a secret for the engine (encrypted in the state, never shown).
  expect(isSecretWrapper(container.inputs.uploads)).toBe(true);
  return `${variable}=${unwrap(upload?.content) as string}`;
}
const planned = (p: Plan, name: string) => {
  const service = p.hosts.flatMap((h) => h.services).find((s) => s.name === name);
  if (service === undefined) throw new Error(`plan has no ${name}`);
  return service;
};
/** Plain strings anywhere in a value, skipping what sits inside secret wrappers. */
function plainStrings(value: unknown, out: string[] = []): string[] {
  if (isSecretWrapper(value)) return out;
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) for (const v of value) plainStrings(v, out);
  else if (typeof value === "object" && value !== null)
    for (const v of Object.values(value)) plainStrings(v, out);
  return out;
}

beforeAll(async () => {
  await installMocks();
  program = await import("../../infra/program.js");
});

// The owner's two 4 GB hosts carry 300 users on the calibrated budgets; 1 000 users overcommit the automation
// host, so that case deploys only with the owner's explicit opt-in (refusal tested below).
describe.each([
  { users: 1, allowErrors: false },
  { users: 100, allowErrors: false },
  { users: 300, allowErrors: false },
  { users: 1000, allowErrors: true },
])("the program under mocks for $users users", ({ users, allowErrors }) => {
  let resources: Registered[];
  let expected: Plan;
  beforeAll(async () => {
    expected = stackPlan(users);
    ({ resources } = await deploy(users, allowErrors));
  });

  it("protects and retains every volume with data, so a rename or `pulumi destroy` cannot delete it", () => {
    const volumes = resources.filter((r) => r.type === "docker:index/volume:Volume");
    const dataVolumes = volumes.filter((v) => v.inputs.name !== "tapbot-caddy-config");
    expect(dataVolumes.map((v) => v.inputs.name).sort()).toEqual(
      [
        "tapbot-alertmanager",
        "tapbot-caddy-data",
        "tapbot-directus-uploads",
        "tapbot-grafana",
        "tapbot-n8n",
        "tapbot-pgdata",
        "tapbot-prometheus",
        "tapbot-qdrant",
        "tapbot-redis",
      ].sort(),
    );
    for (const volume of dataVolumes) {
      expect({ volume: volume.inputs.name, protect: volume.protect, retain: volume.retainOnDelete }).toEqual({
        volume: volume.inputs.name,
        protect: true,
        retain: true,
      });
    }
    // Caddy's /config holds only autosave.json, rewritten from the Caddyfile at each start.
    const caddyConfig = volumes.find((v) => v.inputs.name === "tapbot-caddy-config");
    expect(caddyConfig).toMatchObject({ protect: false, retainOnDelete: false });
    // Protection is for data, not for everything: containers can still be replaced by a deploy.
    expect(containers(resources).every((c) => !c.protect && !c.retainOnDelete)).toBe(true);
  });

  it("runs exactly plan.workers workers, each with the plan's concurrency and memory", () => {
    const workers = containers(resources).filter((c) => /^app-worker-\d+$/.test(c.name));
    expect(workers).toHaveLength(expected.workers);
    const worker = planned(expected, "worker");
    for (const w of workers) {
      expect(envOf(w)).toContain(`WORKER_CONCURRENCY=${expected.workerConcurrency}`);
      expect(envOf(w)).toContain(`FAL_CONCURRENCY=${expected.provider.concurrency}`);
      // Workers submit with fal's webhook on the bot domain, which Caddy forwards to the bots.
      expect(envOf(w)).toContain("FAL_WEBHOOK_URL=https://bot.tapbot.kz/fal/webhook");
      expect(w.inputs.memory).toBe(worker.limitMB);
      expect(w.inputs.memoryReservation).toBe(worker.reservationMB);
      expect(w.inputs.command).toEqual(["node", "dist/app/worker/main.js"]);
      expect(envOf(w)).toContain("HTTP_PORT=8080");
      // The secrets as files only its user reads, none in the environment `docker inspect` shows.
      expect(secretOf(w, "TELEGRAM_BOT_TOKEN")).toBe(`TELEGRAM_BOT_TOKEN=${SECRET_VALUES.telegramBotToken}`);
      expect(secretOf(w, "FAL_KEY")).toBe(`FAL_KEY=${SECRET_VALUES.falKey}`);
      expect(plainStrings(w.inputs).join("\n")).not.toMatch(/SECRET-x/);
    }
  });

  it("runs two bot replicas in webhook mode on the bot domain, and every app process with a stop grace", () => {
    const bots = containers(resources).filter((c) => /^app-bot-\d+$/.test(c.name));
    expect(bots.map((b) => b.inputs.name)).toEqual(["tapbot-bot-1", "tapbot-bot-2"]);
    for (const bot of bots) {
      expect(envOf(bot)).toEqual(
        expect.arrayContaining([
          "BOT_MODE=webhook",
          "WEBHOOK_URL=https://bot.tapbot.kz/telegram/webhook",
          "FAL_WEBHOOK_URL=https://bot.tapbot.kz/fal/webhook",
          "HTTP_HOST=0.0.0.0",
          "SHUTDOWN_GRACE_SECONDS=20",
          // The stack's providerConcurrency (Pulumi.prod.yaml), which the bot's wait estimates use.
          `FAL_CONCURRENCY=${expected.provider.concurrency}`,
        ]),
      );
      expect(expected.provider.concurrency).toBe(44);
      // The poll schedule the plan's slot time assumes reaches the app, and that slot time the bot's estimates.
      expect(envOf(bot)).toEqual(
        expect.arrayContaining(["POLL_INITIAL_SECONDS=2", "POLL_MAX_SECONDS=10", "FAL_SLOT_SECONDS=25.1"]),
      );
      // The plan sizes the fal slots for what the program deploys: webhooks, a slot freed 0.1 s after fal ends.
      expect(expected.provider).toMatchObject({ falCompletion: "webhook", slotSeconds: 25.1 });
      // The stack's caps on paid generations; the hourly budget, unset there, follows the plan's peak demand.
      expect(envOf(bot)).toEqual(
        expect.arrayContaining([
          "QUOTA_FREE_PER_DAY=50",
          "QUOTA_VIP_PER_DAY=500",
          `GENERATION_BUDGET_PER_HOUR=${Math.ceil(users * 7.5 * 2)}`,
        ]),
      );
      expect(secretOf(bot, "WEBHOOK_SECRET")).toMatch(/^WEBHOOK_SECRET=[0-9a-f]{64}$/);
      expect(secretOf(bot, "TELEGRAM_BOT_TOKEN")).toBe(
        `TELEGRAM_BOT_TOKEN=${SECRET_VALUES.telegramBotToken}`,
      );
    }
    for (const c of containers(resources).filter((r) => /^app-(bot|worker)-\d+$/.test(r.name))) {
      // Docker waits the app's grace + 10 s after SIGTERM, on a stop and on a deploy's removal alike.
      expect(c.inputs, c.name).toMatchObject({
        stopSignal: "SIGTERM",
        stopTimeout: 30,
        destroyGraceSeconds: 30,
      });
      expect(envOf(c), c.name).toContain("SHUTDOWN_GRACE_SECONDS=20");
    }
  });

  it("sizes every planned service's container by the plan", () => {
    const names = {
      redis: "automation-redis",
      n8n: "automation-n8n",
      bot: "app-bot-1",
      postgres: "data-postgres",
      directus: "data-directus",
      qdrant: "data-qdrant",
    };
    for (const [service, resource] of Object.entries(names)) {
      const container = byName(resources, resource);
      expect(container.inputs.memory, service).toBe(planned(expected, service).limitMB);
      expect(container.inputs.memoryReservation, service).toBe(planned(expected, service).reservationMB);
    }
  });

  it("gives every container a memory limit, a reservation under it, a restart policy and a healthcheck", () => {
    for (const c of containers(resources)) {
      expect(c.inputs.memory, c.name).toBeGreaterThan(0);
      expect(c.inputs.memoryReservation, c.name).toBeGreaterThan(0);
      expect(c.inputs.memoryReservation as number, c.name).toBeLessThanOrEqual(c.inputs.memory as number);
      expect(c.inputs.restart, c.name).toBe("unless-stopped");
      expect((c.inputs.healthcheck as { tests: string[] }).tests.length, c.name).toBeGreaterThan(1);
    }
  });

  it("runs Caddy and both bot replicas with the plan's limits: every container is in its host's budget", () => {
    const caddy = byName(resources, "automation-caddy");
    expect(caddy.inputs.memory).toBe(planned(expected, "caddy").limitMB);
    expect(caddy.inputs.memoryReservation).toBe(planned(expected, "caddy").reservationMB);
    const bots = containers(resources).filter((c) => /^app-bot-\d+$/.test(c.name));
    expect(bots).toHaveLength(planned(expected, "bot").replicas);
    const budgeted = expected.hosts.flatMap((h) => h.services).reduce((n, s) => n + s.replicas, 0);
    expect(containers(resources)).toHaveLength(budgeted);
  });

  it("publishes nothing on 0.0.0.0 but the proxy's 80/443; databases, queue, vector DB and internal ports never", () => {
    for (const c of containers(resources)) {
      for (const port of (c.inputs.ports as
        | { internal: number; external: number; ip?: string }[]
        | undefined) ?? []) {
        const wildcard = port.ip === undefined || port.ip === "" || port.ip === "0.0.0.0" || port.ip === "::";
        if (wildcard) {
          expect(c.name).toBe("automation-caddy");
          expect([80, 443]).toContain(port.external);
        }
        if ([5432, 6379, 6333, 8055, 5678].includes(port.internal))
          expect(port.ip, `${c.name}:${port.internal}`).toBe("10.77.0.2");
      }
    }
    for (const name of ["automation-redis", "automation-n8n", "app-board"])
      expect(byName(resources, name).inputs.ports ?? []).toEqual([]);
    // The app's ops ports (/metrics for Prometheus) and the Redis exporter only on the automation host's
    // tunnel address; the PostgreSQL exporter only on the data host's loopback.
    for (const c of containers(resources).filter((r) =>
      /^app-(bot|worker)-|^monitoring-redis-exporter$/.test(r.name),
    )) {
      for (const port of c.inputs.ports as { ip: string }[]) expect(port.ip, c.name).toBe("10.77.0.1");
    }
    expect(byName(resources, "monitoring-postgres-exporter").inputs.ports).toEqual([
      expect.objectContaining({ ip: "127.0.0.1" }),
    ]);
  });

  it("keeps n8n on its own network with Caddy, away from Redis, and gives each Redis and PostgreSQL client its own user", () => {
    const networksOf = (name: string) =>
      (byName(resources, name).inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
    expect(networksOf("automation-n8n")).toEqual(["tapbot-n8n"]);
    expect(networksOf("automation-caddy")).toEqual(["tapbot", "tapbot-n8n"]);
    expect(networksOf("automation-redis")).toEqual(["tapbot"]);
    const redis = byName(resources, "automation-redis");
    const uploads = unwrap(redis.inputs.uploads) as { file: string; content: unknown }[];
    const acl = unwrap(uploads.find((u) => u.file === "/etc/redis-users.acl")?.content) as string;
    const password = SECRET_VALUES.redisPassword;
    expect(acl).toContain(`user tapbot-app on #${createHash("sha256").update(password).digest("hex")} `);
    expect(acl).not.toContain(password);
    expect(redis.inputs.envs ?? []).toEqual([]);
    for (const app of containers(resources).filter((r) => /^app-(bot|worker)-\d+$/.test(r.name))) {
      expect(secretOf(app, "REDIS_URL")).toBe(
        `REDIS_URL=redis://tapbot-app:${encodeURIComponent(password)}@redis:6379`,
      );
    }
    // PostgreSQL likewise: the app as its own role, with a password derived from (never equal to) the stack's.
    for (const app of containers(resources).filter((r) => /^app-(bot|worker)-\d+$/.test(r.name))) {
      const url = secretOf(app, "DATABASE_URL");
      expect(url).toMatch(/^DATABASE_URL=postgres:\/\/tapbot_app:[0-9a-f]{64}@10\.77\.0\.2:5432\/tapbot$/);
      expect(url).not.toContain(SECRET_VALUES.postgresPassword);
    }
    // Directus too: its own role and password, never the superuser's.
    const directus = envOf(byName(resources, "data-directus"));
    expect(directus).toContain("DB_USER=tapbot_directus");
    const directusPassword = secretOf(byName(resources, "data-directus"), "DB_PASSWORD");
    expect(directusPassword).toMatch(/^DB_PASSWORD=[0-9a-f]{64}$/);
    expect(directusPassword).not.toContain(SECRET_VALUES.postgresPassword);
    const appUrl = secretOf(byName(resources, "app-bot-1"), "DATABASE_URL");
    const appPassword = appUrl.match(/tapbot_app:([0-9a-f]{64})@/)?.[1];
    expect(appPassword).toBeDefined();
    expect(directusPassword).not.toContain(appPassword);
    const roles = resources.find((r) => r.name === "data-postgres-roles");
    expect(roles?.inputs.create).toMatch(/^(sudo -n )?bash -s$/);
    expect(isSecretWrapper(roles?.inputs.stdin)).toBe(true);
    const sql = unwrap(roles?.inputs.stdin) as string;
    expect(sql).toContain("\\set role tapbot_app\n");
    expect(sql).toContain("\\set role tapbot_directus\n");
    expect(sql.indexOf("tapbot_app")).toBeLessThan(sql.indexOf("tapbot_directus"));
    expect(roles?.inputs.logging).toBe("none");
    expect(
      byName(resources, "data-directus").dependencies.some((u) => u.endsWith("::data-postgres-roles")),
    ).toBe(true);
    const exporter = envOf(byName(resources, "monitoring-redis-exporter"));
    expect(exporter).toContain("REDIS_USER=tapbot-exporter");
    expect(exporter.join("\n")).not.toContain(password);
  });

  it("runs the queue dashboard with the plan's memory, its password hash as a secret and its own Redis user, behind Caddy's allowlist", () => {
    const board = byName(resources, "app-board");
    expect(board.inputs).toMatchObject({
      name: "tapbot-board",
      memory: planned(expected, "board").limitMB,
      memoryReservation: planned(expected, "board").reservationMB,
      command: ["node", "dist/app/board/main.js"],
      stopSignal: "SIGTERM",
    });
    expect((board.inputs.networksAdvanced as { name: string }[]).map((n) => n.name)).toEqual(["tapbot"]);
    const boardPassword = createHash("sha256")
      .update(`tapbot-redis-board:${SECRET_VALUES.redisPassword}`)
      .digest("hex");
    // Its two secrets as files its user alone reads, nothing secret in its environment.
    expect(secretOf(board, "REDIS_URL")).toBe(`REDIS_URL=redis://tapbot-board:${boardPassword}@redis:6379`);
    expect(secretOf(board, "BOARD_PASSWORD_HASH")).toBe(
      `BOARD_PASSWORD_HASH=${SECRET_VALUES.boardPasswordHash}`,
    );
    expect(envOf(board)).toEqual([
      "REDIS_URL_FILE=/run/secrets/redis_url",
      "BOARD_PASSWORD_HASH_FILE=/run/secrets/board_password_hash",
      "QUEUE_NAME=generations",
      "HTTP_PORT=8090",
      "HTTP_HOST=0.0.0.0",
      "LOG_LEVEL=info",
    ]);
    // The bot and the workers use the queue the board's Redis user is confined to.
    for (const app of containers(resources).filter((r) => /^app-(bot|worker)-\d+$/.test(r.name)))
      expect(envOf(app)).toContain("QUEUE_NAME=generations");
    const uploads = (c: string) =>
      unwrap(byName(resources, c).inputs.uploads) as { file: string; content: unknown }[];
    const acl = unwrap(uploads("automation-redis").find((u) => u.file === "/etc/redis-users.acl")?.content);
    expect(acl).toMatch(
      /^user tapbot-board on #[0-9a-f]{64} resetkeys ~bull:generations:\* resetchannels -@all /m,
    );
    expect(acl).not.toContain(boardPassword);
    const caddyfile = String(
      unwrap(uploads("automation-caddy").find((u) => u.file === "/etc/caddy/Caddyfile")?.content),
    );
    const site = caddyfile.slice(caddyfile.indexOf("queue.tapbot.kz {"));
    const block = site.slice(0, site.indexOf("\n}"));
    expect(block.split("\n").slice(0, 5)).toEqual([
      "queue.tapbot.kz {",
      "\t@stranger {",
      `\t\tnot remote_ip ${TEST_ADMIN_ALLOW_IPS.join(" ")}`,
      "\t}",
      '\trespond @stranger "Forbidden" 403',
    ]);
    expect(block.endsWith("\treverse_proxy tapbot-board:8090")).toBe(true);
  });

  it("creates n8n's owner from the stack (bcrypt hash only) and hardens n8n and Directus", () => {
    const n8n = envOf(byName(resources, "automation-n8n"));
    expect(n8n).toEqual(
      expect.arrayContaining([
        "N8N_BLOCK_ENV_ACCESS_IN_NODE=true",
        "N8N_INSTANCE_OWNER_MANAGED_BY_ENV=true",
        "N8N_INSTANCE_OWNER_EMAIL=admin@tapbot.kz",
      ]),
    );
    const hash = n8n.find((e) => e.startsWith("N8N_INSTANCE_OWNER_PASSWORD_HASH="))?.split("=")[1] ?? "";
    expect(bcrypt.compareSync(SECRET_VALUES.n8nOwnerPassword, hash)).toBe(true);
    expect(n8n.join("\n")).not.toContain(SECRET_VALUES.n8nOwnerPassword);
    // Where the image reads NAME_FILE, the secret is a file its user alone reads, out of `docker inspect`.
    const directus = byName(resources, "data-directus");
    expect(secretOf(directus, "SECRET")).toBe(`SECRET=${SECRET_VALUES.directusSecret}`);
    expect(secretOf(directus, "ADMIN_PASSWORD")).toBe(
      `ADMIN_PASSWORD=${SECRET_VALUES.directusAdminPassword}`,
    );
    expect(secretOf(byName(resources, "data-postgres"), "POSTGRES_PASSWORD", 0)).toBe(
      `POSTGRES_PASSWORD=${SECRET_VALUES.postgresPassword}`,
    );
    expect(
      secretOf(
        byName(resources, "monitoring-grafana"),
        "GF_SECURITY_ADMIN_PASSWORD",
        472,
        "GF_SECURITY_ADMIN_PASSWORD__FILE",
      ),
    ).toBe(`GF_SECURITY_ADMIN_PASSWORD=${SECRET_VALUES.grafanaAdminPassword}`);
    expect(isSecretWrapper(byName(resources, "automation-n8n").inputs.envs)).toBe(true);
    expect(envOf(byName(resources, "data-directus"))).toEqual(
      expect.arrayContaining([
        "RATE_LIMITER_ENABLED=true",
        "SESSION_COOKIE_SECURE=true",
        "REFRESH_TOKEN_COOKIE_SECURE=true",
        "IP_TRUST_PROXY=10.77.0.1",
      ]),
    );
  });

  it("starts Redis with the plan's maxmemory, noeviction and AOF every second", () => {
    const command = byName(resources, "automation-redis").inputs.command as string[];
    const arg = (flag: string) => command[command.indexOf(flag) + 1];
    expect(arg("--maxmemory")).toBe(`${expected.redis.maxmemoryMB}mb`);
    expect(arg("--maxmemory-policy")).toBe("noeviction");
    expect(arg("--appendonly")).toBe("yes");
    expect(arg("--appendfsync")).toBe("everysec");
  });

  it("gives PostgreSQL the plan's settings and shm_size", () => {
    const postgres = byName(resources, "data-postgres");
    if (expected.postgres === null) throw new Error("plan without postgres");
    const command = postgres.inputs.command as string[];
    for (const [name, value] of Object.entries(renderPostgresSettings(expected.postgres))) {
      expect(command).toContain(`${name}=${value}`);
    }
    expect(postgres.inputs.shmSize).toBe(expected.postgres.shmSizeMB);
  });

  it("keeps every secret inside secret wrappers: never in command text, scripts, names or plain inputs", () => {
    const plain = resources.flatMap((r) => plainStrings(r.inputs).map((s) => `${r.name}: ${s}`));
    for (const [key, value] of Object.entries(SECRET_VALUES)) {
      expect(
        plain.filter((s) => s.includes(value)),
        key,
      ).toEqual([]);
    }
    const commands = resources.filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) {
      expect(["bash -s", "sudo -n bash -s"]).toContain(c.inputs.create);
      const connection = c.inputs.connection as Record<string, unknown>;
      expect(isSecretWrapper(connection) || isSecretWrapper(connection.privateKey), c.name).toBe(true);
    }
  });

  it("builds the app image off the automation host and ships it there over SSH pinned to the host's key", () => {
    // No resource builds on the host's Docker: the 4 GB host only loads the finished image.
    expect(resources.filter((r) => r.type.startsWith("docker:index/image:"))).toEqual([]);
    const image = resources.find((r) => r.type === "command:local:Command" && r.name === "app-image");
    if (image === undefined) throw new Error("no app-image command");
    const tag = unwrap(byName(resources, "app-bot-1").inputs.image) as string;
    expect(tag).toMatch(/^tapbot-app:[0-9a-f]{16}$/);
    const app = containers(resources).filter((c) => /^app-(bot|worker)-\d+$/.test(c.name));
    expect(app.length).toBe(expected.workers + 2);
    for (const c of app) expect(unwrap(c.inputs.image), c.name).toBe(tag);
    const script = image.inputs.stdin as string;
    expect(script).toContain(`tag='${tag}'`);
    const { automationHost, sshUser } = plainStackConfig(users);
    expect(script).toContain(`target='${sshUser}@${automationHost}'`);
    expect(script).toContain(`KnownHostsCommand=/bin/echo ${automationHost} ${TEST_HOST_KEYS.automation}`);
    expect(script).toContain("StrictHostKeyChecking=yes");
    // The key reaches the script only through its environment, as a secret.
    const env = image.inputs.environment as Record<string, unknown>;
    expect(isSecretWrapper(env.TAPBOT_SSH_PRIVATE_KEY) || isSecretWrapper(env)).toBe(true);
    expect(JSON.stringify(env)).toContain(SECRET_VALUES.sshPrivateKey);
    expect(expected.imageBuild).toBeNull();
    for (const host of expected.hosts) expect(host.deployPeakMB).toBe(host.usedMB);
  });
});

describe("backups", () => {
  const OFFSITE = {
    endpoint: "https://s3.ru1.storage.beget.cloud",
    bucket: "tapbot-backups",
    accessKeyId: "BEGETKEYID42",
  };
  const OFFSITE_SECRETS = {
    "tapbot:offsiteBackupSecretAccessKey": `s3-secret-${"k".repeat(30)}`,
    "tapbot:offsiteBackupPassword": `restic-password-${"p".repeat(30)}`,
  };
  const commandsOf = (rs: Registered[]) =>
    rs.filter((r) => r.type === "command:remote:Command" && r.name.startsWith("backups-"));

  it("without tapbot:offsiteBackup: the data host dumps PostgreSQL locally, nothing else, and the alerts watch postgres only", async () => {
    const { resources } = await deploy(300);
    const commands = commandsOf(resources);
    expect(commands.map((c) => c.name)).toEqual(["backups-data"]);
    const script = unwrap(commands[0]?.inputs.stdin) as string;
    expect(script).toContain("install_file '/usr/local/sbin/tapbot-pg-dump' 0755");
    expect(script).toContain("(local dumps only: no tapbot:offsiteBackup)");
    expect(script).not.toContain("restic backup");
    const rules = unwrap(byName(resources, "monitoring-prometheus").inputs.uploads) as { content: string }[];
    const text = rules.map((u) => u.content).join("\n");
    expect(text).toContain('absent(tapbot_backup_last_success_timestamp_seconds{store="postgres"})');
    expect(text).not.toContain('store="n8n"');
  });

  it("with it: both hosts upload, the keys reach the hosts only in a secret script, and every store is watched", async () => {
    const { resources } = await deploy(300, false, {
      "tapbot:offsiteBackup": JSON.stringify(OFFSITE),
      ...OFFSITE_SECRETS,
    });
    const commands = commandsOf(resources);
    expect(commands.map((c) => c.name).sort()).toEqual([
      "backups-automation",
      "backups-automation-env",
      "backups-data",
      "backups-data-env",
    ]);
    for (const env of commands.filter((c) => c.name.endsWith("-env"))) {
      expect(isSecretWrapper(env.inputs.stdin), env.name).toBe(true);
      expect(env.inputs.logging, env.name).toBe("none");
      const text = unwrap(env.inputs.stdin) as string;
      expect(text).toContain("install_file '/etc/tapbot/backup.env' 0400");
      const role = env.name.split("-")[1];
      expect(text).toContain(
        `RESTIC_REPOSITORY='s3:https://s3.ru1.storage.beget.cloud/tapbot-backups/tapbot/${role}'`,
      );
      expect(text).toContain(`RESTIC_PASSWORD='${OFFSITE_SECRETS["tapbot:offsiteBackupPassword"]}'`);
    }
    const data = unwrap(commands.find((c) => c.name === "backups-data")?.inputs.stdin) as string;
    const automation = unwrap(commands.find((c) => c.name === "backups-automation")?.inputs.stdin) as string;
    expect(data).toContain("--tag store=postgres --stdin --stdin-filename tapbot.dump");
    expect(data).toContain("--tag store=qdrant");
    expect(data).toContain("--tag store=directus");
    expect(automation).toContain("docker pause tapbot-n8n");
    expect(automation).toContain("--tag store=n8n");
    for (const script of [data, automation]) {
      expect(script).toContain("--keep-daily 7 --keep-weekly 4 --keep-monthly 6 --prune");
      expect(script).toContain("systemctl enable --now tapbot-backup.timer");
    }
    // No secret of the backup in plain text anywhere: not in a script, a name or an input.
    const plain = resources.flatMap((r) => plainStrings(r.inputs));
    for (const secret of Object.values(OFFSITE_SECRETS)) {
      expect(plain.filter((s) => s.includes(secret))).toEqual([]);
    }
    const rules = unwrap(byName(resources, "monitoring-prometheus").inputs.uploads) as { content: string }[];
    const text = rules.map((u) => u.content).join("\n");
    for (const store of ["postgres", "qdrant", "directus", "n8n"]) {
      expect(text).toContain(`absent(tapbot_backup_last_success_timestamp_seconds{store="${store}"})`);
    }
  });

  it("refuses an offsite backup without its secrets, or over plain http, naming the key", async () => {
    setStackConfig(300, { "tapbot:offsiteBackup": JSON.stringify(OFFSITE) });
    await expect(program.deployStack()).rejects.toThrow(
      /tapbot:offsiteBackupSecretAccessKey is required with tapbot:offsiteBackup[\s\S]*tapbot:offsiteBackupPassword is required/,
    );
    setStackConfig(300, {
      "tapbot:offsiteBackup": JSON.stringify({ ...OFFSITE, endpoint: "http://s3.example.com" }),
      ...OFFSITE_SECRETS,
    });
    await expect(program.deployStack()).rejects.toThrow(
      /tapbot:offsiteBackup\.endpoint: expected the S3 endpoint's https:\/\/ URL/,
    );
  });
});

describe("changing users", () => {
  it("changes only the worker count, the memory limits (and the swap the plan sizes with them) and the hourly budget", async () => {
    const before = (await deploy(100)).resources;
    const after = (await deploy(300)).resources;
    const names = (rs: Registered[]) => new Set(rs.map((r) => r.name));
    const added = [...names(after)].filter((n) => !names(before).has(n));
    const removed = [...names(before)].filter((n) => !names(after).has(n));
    expect(removed).toEqual([]);
    expect(added.every((n) => /^app-worker-\d+$/.test(n))).toBe(true);
    expect(added).toHaveLength(stackPlan(300).workers - stackPlan(100).workers);
    const memoryKeys = new Set(["memory", "memorySwap", "memoryReservation"]);
    const changed: string[] = [];
    for (const old of before) {
      const now = after.find((r) => r.name === old.name && r.type === old.type);
      if (now === undefined) continue;
      for (const key of new Set([...Object.keys(old.inputs), ...Object.keys(now.inputs)])) {
        if (JSON.stringify(old.inputs[key]) !== JSON.stringify(now.inputs[key]))
          changed.push(`${old.name}.${key}`);
      }
    }
    // The bots' hourly budget of paid generations follows the plan's peak demand, nothing else of their env.
    const budgetOnly = (name: string) => {
      const envs = (rs: Registered[]) =>
        envOf(byName(rs, name)).filter((e) => !e.startsWith("GENERATION_BUDGET_PER_HOUR="));
      return JSON.stringify(envs(before)) === JSON.stringify(envs(after));
    };
    for (const change of changed) {
      const [name = "", key] = change.split(".");
      // Prometheus's files change too: its scrape targets (the new workers) and the rules (the new limits).
      const monitoring = change === "monitoring-prometheus.uploads";
      const budget = /^app-bot-\d+$/.test(name) && key === "envs" && budgetOnly(name);
      expect(
        memoryKeys.has(key ?? "") || /-swap-sysctl\.(stdin|triggers)$/.test(change) || monitoring || budget,
        change,
      ).toBe(true);
    }
    expect(changed).toContain("app-bot-1.envs");
    expect(changed).toContain("app-bot-1.memory");
    expect(changed).toContain("monitoring-prometheus.uploads");
  });

  it("stops with a message naming the key when config is missing or invalid", async () => {
    setStackConfig(100, {
      "tapbot:dataHost": "not-an-ip",
      "tapbot:n8nDomain": undefined,
      "tapbot:falKey": undefined,
    });
    await expect(program.deployStack()).rejects.toThrow(
      /tapbot:dataHost[\s\S]*tapbot:n8nDomain is required[\s\S]*tapbot:falKey is required/,
    );
    setStackConfig(100, { "tapbot:capacity": JSON.stringify({ users: 0 }) });
    await expect(program.deployStack()).rejects.toThrow(/tapbot:capacity\.users/);
    setStackConfig(100, {
      "tapbot:capacity": JSON.stringify({ users: 100, calibration: "capacity/no-such-file.json" }),
    });
    await expect(program.deployStack()).rejects.toThrow(/no-such-file\.json/);
  });

  it("with falCompletion poll the workers get no webhook URL and the bot the polled slot time", async () => {
    resetRegistrations();
    setStackConfig(300, {
      "tapbot:capacity": JSON.stringify({ ...stackCapacity(300), falCompletion: "poll" }),
    });
    const outputs = await program.deployStack();
    await Promise.all([...outputs.components.app.workers].map((c) => resolve(c.id)));
    for (const c of containers([...registered]).filter((r) => /^app-(bot|worker)-\d+$/.test(r.name))) {
      expect(
        envOf(c).some((e) => e.startsWith("FAL_WEBHOOK_URL=")),
        c.name,
      ).toBe(false);
      expect(envOf(c), c.name).toContain("FAL_SLOT_SECONDS=29.0");
    }
  });

  it("refuses a stack without fal's account limit, saying how to learn it and what the plan needs", async () => {
    resetRegistrations();
    const { providerConcurrency: _, ...capacity } = stackCapacity(300);
    setStackConfig(300, { "tapbot:capacity": JSON.stringify(capacity) });
    const refusal = program.deployStack();
    await expect(refusal).rejects.toThrow(/tapbot:capacity\.providerConcurrency is required/);
    await expect(refusal).rejects.toThrow(/New fal accounts have 2; fal raises it on request/);
    await expect(refusal).rejects.toThrow(/The plan for 300 users needs 38/);
    expect(registered.filter((r) => r.type === CONTAINER)).toEqual([]);
  });

  it("refuses a stack whose plan budgets the image build on a host, naming the key to set", async () => {
    resetRegistrations();
    const capacity = { ...stackCapacity(300), imageBuild: { host: "automation", peakMB: 900, diskGB: 1 } };
    setStackConfig(300, { "tapbot:capacity": JSON.stringify(capacity) });
    const refusal = program.deployStack();
    await expect(refusal).rejects.toThrow(/tapbot:capacity\.imageBuild must be unset or null/);
    await expect(refusal).rejects.toThrow(/on the automation host \(900 MB peak, 1 GB of disk\)/);
    await expect(refusal).rejects.toThrow(
      /Remove `imageBuild` from tapbot:capacity in Pulumi.<stack>.yaml, or set it to null/,
    );
    expect(registered.filter((r) => r.type === CONTAINER)).toEqual([]);
  });

  it("refuses a plan with error findings, naming them and the opt-in, unless the owner allows it", async () => {
    // 1 000 users on the stack's 44 fal slots: the wait for a slot grows without bound.
    const errors = stackPlan(1000).findings.filter((f) => f.severity === "error");
    expect(errors.map((f) => f.code)).toContain("QUEUE_UNSTABLE");
    resetRegistrations();
    setStackConfig(1000);
    const refusal = program.deployStack();
    await expect(refusal).rejects.toThrow(/pulumi config set tapbot:allowCapacityErrors true/);
    for (const e of errors) await expect(refusal).rejects.toThrow(e.code);
    expect(registered.filter((r) => r.type === CONTAINER)).toEqual([]);
    await expect(deploy(1000, true)).resolves.toBeDefined();
  });
});
