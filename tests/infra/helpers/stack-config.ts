import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { DEFAULT_CALIBRATION_FILE, loadCapacityInput, type Plan, plan } from "../../../capacity/index.js";
import { type PlainConfig, parsePlainConfig } from "../../../infra/config.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Pulumi.prod.yaml's `config:` block: the owner's stack, read rather than copied so the tests use its values. */
const PROD_CONFIG = (
  parse(readFileSync(resolve(REPO_ROOT, "Pulumi.prod.yaml"), "utf8")) as { config: Record<string, unknown> }
).config;

/**
 * The owner's allowlist in tests (documentation ranges). Pulumi.prod.yaml has none: only the owner knows the
 * address he runs `pulumi up` from, and the program refuses a stack without it.
 */
export const TEST_ADMIN_ALLOW_IPS = ["198.51.100.7", "2001:db8:77::/48"];

/**
 * The hosts' SSH host keys in tests (ed25519 keys made for them). Pulumi.prod.yaml has none: the owner reads
 * them from his servers (`ssh-keyscan`, checked against the console) and the program refuses a stack
 * without them.
 */
export const TEST_HOST_KEYS = {
  automation: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAIgm36fBkVpjhbExmB9SsoP1GyxqUawdT0lfPncmcVZ",
  data: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPJ2Xgueqi5P9AM2X0kT5eErHgvFhxAAJz9PQ3YP6hri",
} as const;

/** The owner's Telegram chat for alerts in tests; Pulumi.prod.yaml has none for the same reason. */
export const TEST_ALERT_CHAT_ID = "123456789";

/** The `tapbot:capacity` of Pulumi.prod.yaml with a chosen number of users (calibrated budgets). */
export function stackCapacity(users: number): Record<string, unknown> {
  return { ...(PROD_CONFIG["tapbot:capacity"] as Record<string, unknown>), users };
}

/** The plan the program must deploy for {@link stackCapacity}, computed by the capacity model itself. */
export function stackPlan(users: number): Plan {
  return plan(
    loadCapacityInput({
      raw: stackCapacity(users),
      baseDir: REPO_ROOT,
      readFile: (path) => readFileSync(path, "utf8"),
      defaultCalibrationFile: DEFAULT_CALIBRATION_FILE,
    }),
  );
}

/**
 * The plain values of Pulumi.prod.yaml as Pulumi hands them to the program (strings; the capacity object as
 * JSON), with a chosen number of users, {@link TEST_ADMIN_ALLOW_IPS}, {@link TEST_HOST_KEYS} and
 * {@link TEST_ALERT_CHAT_ID}. Secrets (`secure:` objects, if the
 * owner has set any) are left out.
 */
export function rawStackConfig(users: number): Record<string, string> {
  const raw: Record<string, string> = {
    "tapbot:adminAllowIps": JSON.stringify(TEST_ADMIN_ALLOW_IPS),
    "tapbot:automationHostKey": TEST_HOST_KEYS.automation,
    "tapbot:dataHostKey": TEST_HOST_KEYS.data,
    "tapbot:alertTelegramChatId": TEST_ALERT_CHAT_ID,
  };
  for (const [key, value] of Object.entries(PROD_CONFIG)) {
    if (key === "tapbot:capacity") raw[key] = JSON.stringify(stackCapacity(users));
    else if (typeof value !== "object" || value === null) raw[key] = String(value);
  }
  return raw;
}

/** {@link rawStackConfig} without the namespace, as `readInfraConfig` hands it to `parsePlainConfig`. */
export function unparsedStackConfig(users = 300): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rawStackConfig(users))) {
    raw[key.replace(/^tapbot:/, "")] = key === "tapbot:capacity" ? JSON.parse(value) : value;
  }
  return raw;
}

/** The parsed plain config of {@link rawStackConfig}. */
export function plainStackConfig(users = 300): PlainConfig {
  return parsePlainConfig(unparsedStackConfig(users));
}

/** A fresh WireGuard public key (X25519, base64), as `wg pubkey` prints it. */
export function wireguardPublicKey(): string {
  const { publicKey } = generateKeyPairSync("x25519");
  const der = publicKey.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32).toString("base64");
}
