import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { adminAllowIpsSchema } from "./admin-allow-ips.js";
import { hostKeySchema } from "./host-keys.js";

/** Pulumi config namespace of every key (`tapbot:<key>`). */
export const CONFIG_NAMESPACE = "tapbot";

const ipv4 = z.ipv4({ error: "expected an IPv4 address like 203.0.113.10" });
const domain = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    "expected a DNS name like n8n.tapbot.kz",
  );
const duration = z.string().regex(/^[1-9][0-9]*(s|m|h|d|w)$/, "expected a duration like 10m, 1h or 1w");
const linuxUser = z.string().regex(/^[a-z_][a-z0-9_-]*$/, "expected a Linux user name");
/** Pulumi hands a list over as JSON text; anything else is left for the schema to refuse by name. */
function parseJsonList(value: unknown): unknown {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const image = z
  .string()
  .regex(
    /^[a-z0-9./_-]+:[A-Za-z0-9._-]+(@sha256:[a-f0-9]{64})?$/,
    "expected an image reference with a tag and optionally its digest, like redis:7 or redis:7@sha256:<64 hex>",
  );

/**
 * `tapbot:offsiteBackup`: the S3-compatible bucket the encrypted copies go to (beget's S3, or any other).
 * Absent: the data host keeps its local pg_dumps only, and n8n, Qdrant and Directus uploads have no backup.
 */
export const offsiteBackupSchema = z.strictObject(
  {
    /** The provider's S3 endpoint, https only: e.g. https://s3.ru1.storage.beget.cloud. */
    endpoint: z
      .url({
        protocol: /^https$/,
        error: "expected the S3 endpoint's https:// URL, like https://s3.ru1.storage.beget.cloud",
      })
      .transform((url) => url.replace(/\/+$/, "")),
    bucket: z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "expected an S3 bucket name (3–63 of a-z 0-9 . -)"),
    /** Folder inside the bucket; each host gets its own repository below it (`<prefix>/data`, …). */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, "expected a folder like tapbot or backups/tapbot")
      .default("tapbot"),
    /** The region to sign for, when the provider wants one (AWS_DEFAULT_REGION). */
    region: z
      .string()
      .regex(/^[a-z0-9-]+$/, "expected a region name like ru-1")
      .optional(),
    /** The S3 access key id (not secret by itself; its secret key is tapbot:offsiteBackupSecretAccessKey). */
    accessKeyId: z.string().regex(/^[A-Za-z0-9_.+/=-]{3,128}$/, "expected the S3 access key id"),
    /** Snapshots kept per store: the newest of each of the last N days, weeks and months. */
    keepDaily: int(0, 1000).default(7),
    keepWeekly: int(0, 1000).default(4),
    keepMonthly: int(0, 1000).default(6),
  },
  { error: "expected an object with endpoint, bucket and accessKeyId" },
);

/** Names the two base hosts own; an extra host takes any other. */
const BASE_HOST_NAMES = ["automation", "data"] as const;

/**
 * One entry of `tapbot:extraHosts`: a server beyond the two base hosts, on which the plan places bot or worker
 * replicas (`tapbot:capacity.hosts` names it the same). It is hardened like the others and joins the Swarm
 * (infra/README.md, "More than two hosts").
 */
export const extraHostSchema = z.strictObject(
  {
    /** The plan's host name (`tapbot:capacity.hosts[].name`); also its Swarm node label `tapbot.host`. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,30}$/, "expected a host name like worker-1 (a-z, 0-9, -; up to 31)")
      .refine((name) => !(BASE_HOST_NAMES as readonly string[]).includes(name), {
        error:
          "automation and data are the base hosts (tapbot:automationHost, tapbot:dataHost); pick another name",
      }),
    /** Its public address: SSH, WireGuard and nothing else reach it there. */
    address: ipv4,
    /** Its ed25519 SSH host key, pinned as the base hosts' are. */
    hostKey: hostKeySchema,
    /** Its address on the WireGuard tunnel (the base hosts' /24), where the Swarm listens. */
    tunnelAddress: ipv4,
  },
  { error: "expected an object with name, address, hostKey and tunnelAddress" },
);

/** One parsed entry of `tapbot:extraHosts`. */
export type ExtraHostConfig = z.infer<typeof extraHostSchema>;

/** The parsed `tapbot:offsiteBackup`. */
export type OffsiteBackupConfig = z.infer<typeof offsiteBackupSchema>;

/**
 * Plain (non-secret) settings of the stack, with their defaults. Pulumi hands plain values over as strings,
 * hence the coercion of numbers. Pulumi.yaml declares the same keys, types, defaults and descriptions.
 */
export const plainConfigSchema = z.object({
  automationHost: ipv4,
  dataHost: ipv4,
  sshUser: linuxUser.default("root"),
  sshPort: int(1, 65535).default(22),
  /**
   * Each host's ed25519 SSH host key (`ssh-ed25519 AAAA…`): every remote command and the Docker provider
   * refuse a host that answers with any other key.
   */
  automationHostKey: hostKeySchema,
  dataHostKey: hostKeySchema,
  /** Accounts sshd admits besides sshUser (AllowUsers); everyone else is refused before authentication. */
  sshAllowUsers: z
    .preprocess(parseJsonList, z.array(linuxUser, { error: "expected a list of Linux user names" }))
    .default([]),
  /** The owner's addresses/CIDRs: never rate-limited or banned on SSH; the only sources the admin UIs answer. */
  adminAllowIps: adminAllowIpsSchema,
  n8nDomain: domain,
  /** The bot's public domain: Telegram posts its updates to https://<botDomain>/telegram/webhook. */
  botDomain: domain,
  directusDomain: domain,
  /**
   * Open n8n's production webhooks (`/webhook/*`) to the internet; everything else of n8n stays owner-only.
   * Off by default: nothing of n8n is public until the owner has a workflow that needs it.
   */
  n8nPublicWebhooks: z.stringbool({ error: 'expected "true" or "false"' }).default(false),
  /**
   * Delete the UFW rules the program does not write (an existing server's old openings) on every deploy.
   * Off by default: preflight lists them, and the owner decides.
   */
  removeForeignUfwRules: z.stringbool({ error: 'expected "true" or "false"' }).default(false),
  /**
   * Let the deploy start the new bot although another deployment holds the token (a webhook to another URL,
   * or another process polling). Off by default: the deploy stops before the new bot starts and says what it
   * found, because the two bots would take the updates from each other.
   */
  replaceOldBot: z.stringbool({ error: 'expected "true" or "false"' }).default(false),
  /** The n8n owner account the deploy creates (so no visitor can claim it); its password is a secret. */
  n8nOwnerEmail: z.email({ error: "expected the n8n owner's e-mail address" }),
  /** Grafana behind Caddy (DNS A record → automation host); it answers only the owner. */
  grafanaDomain: domain,
  /** The queue dashboard (Bull Board) behind Caddy (DNS A record → automation host); only the owner reaches it. */
  boardDomain: domain,
  /** The owner's Telegram chat that Alertmanager writes to (a private chat's id is the user's id). */
  alertTelegramChatId: z
    .string({ error: "expected your numeric Telegram user id (or a group's, negative)" })
    .regex(/^-?[1-9][0-9]{0,15}$/, "expected your numeric Telegram user id (or a group's, negative)")
    .transform(Number),
  acmeEmail: z.email({ error: "expected an e-mail address for Let's Encrypt" }),
  directusAdminEmail: z.email({ error: "expected the Directus admin's e-mail address" }),
  swappiness: int(0, 100).default(10),
  sshMaxAuthTries: int(1, 10).default(3),
  sshLoginGraceTimeSeconds: int(10, 600).default(30),
  fail2banBantime: duration.default("10m"),
  fail2banFindtime: duration.default("10m"),
  fail2banMaxretry: int(1, 100).default(5),
  fail2banRecidiveBantime: duration.default("1w"),
  dockerLogMaxSize: z
    .string()
    .regex(/^[1-9][0-9]*[kmg]$/, "expected a size like 10m")
    .default("10m"),
  dockerLogMaxFile: int(1, 20).default(3),
  backupRetentionDays: int(1, 365).default(7),
  offsiteBackup: offsiteBackupSchema.optional(),
  wireguardPort: int(1, 65535).default(51820),
  automationTunnelAddress: ipv4.default("10.77.0.1"),
  dataTunnelAddress: ipv4.default("10.77.0.2"),
  /** Workers replaced at a time during a deploy (the rest keep serving). */
  workerBatchSize: int(1, 100).default(2),
  /**
   * Servers beyond the automation and data hosts, each named as in `tapbot:capacity.hosts`. Empty (the
   * default): the two-host deployment of plain containers, unchanged. Any: the program joins every host into a
   * Docker Swarm on the tunnel and runs the bot and the workers as Swarm services placed by the plan.
   */
  extraHosts: z
    .preprocess(parseJsonList, z.array(extraHostSchema, { error: "expected a list of hosts" }))
    .default([]),
  /**
   * SHUTDOWN_GRACE_SECONDS of the bot and the workers: how long a stopping process finishes or hands back
   * its work; Docker waits 10 s longer before it kills the container.
   */
  shutdownGraceSeconds: int(5, 600).default(20),
  postgresImage: image.default("postgres:16"),
  redisImage: image.default("redis:7"),
  /** 2.41.3: past CVE-2025-68613 (fixed in 1.123.0) and July 2026's advisories (2.30.1); owner-from-env needs 2.17. */
  n8nImage: image.default("n8nio/n8n:2.41.3"),
  /** 12.4.1: past CVE-2025-55746 (fixed in 11.9.3). Directus 12 is under the MSCL licence, Core tier. */
  directusImage: image.default("directus/directus:12.4.1"),
  qdrantImage: image.default("qdrant/qdrant:v1.12.6"),
  caddyImage: image.default("caddy:2"),
  prometheusImage: image.default("prom/prometheus:v2.53.4"),
  alertmanagerImage: image.default("prom/alertmanager:v0.27.0"),
  grafanaImage: image.default("grafana/grafana-oss:11.6.1"),
  nodeExporterImage: image.default("prom/node-exporter:v1.9.1"),
  cadvisorImage: image.default("gcr.io/cadvisor/cadvisor:v0.52.1"),
  redisExporterImage: image.default("oliver006/redis_exporter:v1.70.0-alpine"),
  postgresExporterImage: image.default("quay.io/prometheuscommunity/postgres-exporter:v0.17.1"),
  appLogLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  /**
   * Deploy a plan whose capacity check found errors (overcommitted RAM, an unstable queue, …). Off by
   * default: such a plan fails in production, so `pulumi up` stops and says why unless the owner opts in.
   */
  allowCapacityErrors: z.stringbool({ error: 'expected "true" or "false"' }).default(false),
  /** The `tapbot:capacity` object, parsed by the capacity model's own schema. */
  capacity: z.record(z.string(), z.unknown(), { error: "expected an object with at least `users`" }),
});

/** The parsed plain settings. */
export type PlainConfig = z.infer<typeof plainConfigSchema>;

/**
 * Secrets the stack must hold (set with `pulumi config set --secret`), with the least length that makes each
 * one usable. Their values never pass through zod error messages: only the key and the rule are reported.
 */
export const SECRET_KEYS = {
  sshPrivateKey: 64,
  telegramBotToken: 20,
  falKey: 8,
  postgresPassword: 16,
  redisPassword: 16,
  directusAdminPassword: 12,
  n8nOwnerPassword: 12,
  directusSecret: 32,
  n8nEncryptionKey: 24,
  qdrantApiKey: 24,
  grafanaAdminPassword: 12,
  alertTelegramBotToken: 20,
  /** The bcrypt hash of the queue dashboard's password (60 characters), never the password itself. */
  boardPasswordHash: 60,
} as const;

/** Name of one secret. */
export type SecretKey = keyof typeof SECRET_KEYS;

/**
 * Secrets of the offsite backup, required only with `tapbot:offsiteBackup`: the S3 secret key and the
 * restic repository's password (the copies' encryption: lost password, lost backups; keep it outside the
 * servers too).
 */
export const OFFSITE_SECRET_KEYS = {
  offsiteBackupSecretAccessKey: 16,
  offsiteBackupPassword: 24,
} as const;

/** Name of one offsite backup secret. */
export type OffsiteSecretKey = keyof typeof OFFSITE_SECRET_KEYS;

/**
 * Secrets with a form besides their length, and the rule named when one is wrong: the board's is a bcrypt hash
 * of cost 10-13, as app/board/board-config.ts requires at its start (a password pasted here instead would
 * fail the container's start, after the deploy; this fails the deploy first).
 */
const SECRET_FORMS: Partial<Record<SecretKey | OffsiteSecretKey, { pattern: RegExp; rule: string }>> = {
  boardPasswordHash: {
    pattern: /^\$2[aby]\$1[0-3]\$[./A-Za-z0-9]{53}$/,
    rule: "must be a bcrypt hash of cost 10-13, as `npm run --silent board:hash-password` prints it (see infra/README.md)",
  },
};

/** Everything the program reads from the stack. */
export interface InfraConfig extends PlainConfig {
  secrets: Record<SecretKey, pulumi.Output<string>>;
  /** The offsite backup's secrets; null when `tapbot:offsiteBackup` is not set. */
  offsiteSecrets: Record<OffsiteSecretKey, pulumi.Output<string>> | null;
}

/** Config that stops the program, with one line per bad key. */
export class InfraConfigError extends Error {
  override name = "InfraConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/**
 * What is wrong with the list of hosts as a whole: two hosts with one name, one public address or one tunnel
 * address (WireGuard and the Swarm would route to the wrong one), or a tunnel address outside the base hosts'
 * /24 (every wg0 is a /24 of the automation host's).
 */
export function hostListProblems(config: PlainConfig): string[] {
  const problems: string[] = [];
  const key = (i: number, field: string) => `${CONFIG_NAMESPACE}:extraHosts.${i}.${field}`;
  const seen = (field: "name" | "address" | "tunnelAddress", base: [string, string][]) => {
    const owners = new Map<string, string>(base);
    config.extraHosts.forEach((host, i) => {
      const owner = owners.get(host[field]);
      if (owner !== undefined) {
        problems.push(`${key(i, field)}: ${host[field]} is already ${owner}'s; every host needs its own`);
      } else {
        owners.set(host[field], `${CONFIG_NAMESPACE}:extraHosts.${i}`);
      }
    });
  };
  seen("name", [
    ["automation", `${CONFIG_NAMESPACE}:automationHost`],
    ["data", `${CONFIG_NAMESPACE}:dataHost`],
  ]);
  seen("address", [
    [config.automationHost, `${CONFIG_NAMESPACE}:automationHost`],
    [config.dataHost, `${CONFIG_NAMESPACE}:dataHost`],
  ]);
  seen("tunnelAddress", [
    [config.automationTunnelAddress, `${CONFIG_NAMESPACE}:automationTunnelAddress`],
    [config.dataTunnelAddress, `${CONFIG_NAMESPACE}:dataTunnelAddress`],
  ]);
  const net = (address: string) => address.split(".").slice(0, 3).join(".");
  config.extraHosts.forEach((host, i) => {
    if (net(host.tunnelAddress) !== net(config.automationTunnelAddress)) {
      problems.push(
        `${key(i, "tunnelAddress")}: ${host.tunnelAddress} is outside the tunnel's ${net(config.automationTunnelAddress)}.0/24 (${CONFIG_NAMESPACE}:automationTunnelAddress); expected an address like ${net(config.automationTunnelAddress)}.${3 + i}`,
      );
    }
  });
  return problems;
}

/** Parses the plain settings; throws {@link InfraConfigError} naming every missing or invalid key. */
export function parsePlainConfig(raw: Record<string, unknown>): PlainConfig {
  const result = plainConfigSchema.safeParse(raw);
  if (result.success) {
    const problems = hostListProblems(result.data);
    if (problems.length > 0) throw new InfraConfigError(problems);
    return result.data;
  }
  throw new InfraConfigError(
    result.error.issues.map((issue) => {
      const key = `${CONFIG_NAMESPACE}:${issue.path.map(String).join(".")}`;
      const missing = issue.code === "invalid_type" && issue.input === undefined;
      return missing ? `${key} is required (${issue.message})` : `${key}: ${issue.message}`;
    }),
  );
}

/**
 * What is wrong with a secret's value (too short, or not of its form), naming the key and the rule and never
 * the value; undefined when it is fine. Pure, so the rules are tested without Pulumi.
 */
export function secretProblem(key: SecretKey | OffsiteSecretKey, value: string): string | undefined {
  const least =
    key in SECRET_KEYS ? SECRET_KEYS[key as SecretKey] : OFFSITE_SECRET_KEYS[key as OffsiteSecretKey];
  if (value.trim().length < least) return `${CONFIG_NAMESPACE}:${key} must be at least ${least} characters`;
  const form = SECRET_FORMS[key];
  if (form !== undefined && !form.pattern.test(value.trim()))
    return `${CONFIG_NAMESPACE}:${key} ${form.rule}`;
  return undefined;
}

/**
 * Checks a secret inside the Output ({@link secretProblem}), so the value itself is never unwrapped into
 * program text; a bad value fails the deploy with the key's name and the rule, not the value.
 */
function checkedSecret(
  key: SecretKey | OffsiteSecretKey,
  value: pulumi.Output<string>,
): pulumi.Output<string> {
  return pulumi.secret(
    value.apply((v) => {
      const problem = secretProblem(key, v);
      if (problem !== undefined) throw new InfraConfigError([problem]);
      return v;
    }),
  );
}

/** Reads and validates the stack config (the adapter around {@link parsePlainConfig}). */
export function readInfraConfig(config = new pulumi.Config(CONFIG_NAMESPACE)): InfraConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(plainConfigSchema.shape)) {
    // Objects arrive as JSON text; capacity is parsed here, adminAllowIps by its own schema (it also takes "a,b").
    raw[key] =
      key === "capacity" || key === "offsiteBackup" || key === "extraHosts"
        ? config.getObject(key)
        : config.get(key);
  }
  const problems: string[] = [];
  let plain: PlainConfig | undefined;
  try {
    plain = parsePlainConfig(raw);
  } catch (error) {
    if (!(error instanceof InfraConfigError)) throw error;
    problems.push(...error.problems);
  }
  const secrets: Partial<Record<SecretKey, pulumi.Output<string>>> = {};
  for (const key of Object.keys(SECRET_KEYS) as SecretKey[]) {
    const value = config.getSecret(key);
    if (value === undefined) {
      problems.push(
        `${CONFIG_NAMESPACE}:${key} is required: set it with \`pulumi config set --secret ${key}\``,
      );
    } else {
      secrets[key] = checkedSecret(key, value);
    }
  }
  let offsiteSecrets: Record<OffsiteSecretKey, pulumi.Output<string>> | null = null;
  if (plain?.offsiteBackup !== undefined) {
    const found: Partial<Record<OffsiteSecretKey, pulumi.Output<string>>> = {};
    for (const key of Object.keys(OFFSITE_SECRET_KEYS) as OffsiteSecretKey[]) {
      const value = config.getSecret(key);
      if (value === undefined) {
        problems.push(
          `${CONFIG_NAMESPACE}:${key} is required with ${CONFIG_NAMESPACE}:offsiteBackup: set it with \`pulumi config set --secret ${key}\``,
        );
      } else {
        found[key] = checkedSecret(key, value);
      }
    }
    offsiteSecrets = found as Record<OffsiteSecretKey, pulumi.Output<string>>;
  }
  if (problems.length > 0 || plain === undefined) throw new InfraConfigError(problems);
  return { ...plain, secrets: secrets as Record<SecretKey, pulumi.Output<string>>, offsiteSecrets };
}
