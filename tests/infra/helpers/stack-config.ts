import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCapacityInput, type Plan, plan } from "../../../capacity/index.js";
import { type PlainConfig, parsePlainConfig } from "../../../infra/config.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** The `tapbot:capacity` of Pulumi.prod.yaml with a chosen number of users (calibrated budgets). */
export function stackCapacity(users: number): Record<string, unknown> {
  return { users, calibration: "capacity/calibration.json" };
}

/** The plan the program must deploy for {@link stackCapacity}, computed by the capacity model itself. */
export function stackPlan(users: number): Plan {
  return plan(
    loadCapacityInput({
      raw: stackCapacity(users),
      baseDir: REPO_ROOT,
      readFile: (path) => readFileSync(path, "utf8"),
    }),
  );
}

/**
 * The owner's stack as Pulumi hands it to the program (plain values are strings), with a chosen number of
 * users; the same values as Pulumi.prod.yaml.
 */
export function rawStackConfig(users: number): Record<string, string> {
  return {
    "tapbot:automationHost": "93.189.229.59",
    "tapbot:dataHost": "178.236.17.186",
    "tapbot:sshUser": "root",
    "tapbot:n8nDomain": "n8n.tapbot.kz",
    "tapbot:directusDomain": "directus.tapbot.kz",
    "tapbot:acmeEmail": "admin@tapbot.kz",
    "tapbot:directusAdminEmail": "admin@tapbot.kz",
    "tapbot:capacity": JSON.stringify(stackCapacity(users)),
  };
}

/** The parsed plain config of {@link rawStackConfig}. */
export function plainStackConfig(users = 300): PlainConfig {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(rawStackConfig(users))) {
    raw[key.replace(/^tapbot:/, "")] = key === "tapbot:capacity" ? JSON.parse(value) : value;
  }
  return parsePlainConfig(raw);
}

/** A fresh WireGuard public key (X25519, base64), as `wg pubkey` prints it. */
export function wireguardPublicKey(): string {
  const { publicKey } = generateKeyPairSync("x25519");
  const der = publicKey.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32).toString("base64");
}
