import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { METRICS_RELAY_SERVICE as RELAY_SIZES, SERVICE_DEFAULTS } from "../../../capacity/defaults.js";
import { DEFAULT_CALIBRATION_FILE, loadCapacityInput, type Plan, plan } from "../../../capacity/index.js";
import { stackCapacity } from "./stack-config.js";

/** The third host of the tests: a worker host, as the owner's notes plan it. */
export const THIRD_HOST = {
  name: "worker-1",
  address: "203.0.113.30",
  hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFg+lJ3QttR8LYHaCecl7fhluaAU5wTXG8//ak/ySFcH",
  tunnelAddress: "10.77.0.3",
} as const;

/** The metrics relay a plan of more than two hosts must size, as capacity/examples/three-hosts.yaml has it. */
export const METRICS_RELAY_SERVICE = { ...RELAY_SIZES, host: "automation" } as const;

/**
 * The owner's `tapbot:capacity` with a third host that runs the workers: what a plan of three hosts looks
 * like with today's capacity model (one host per service), and the shape the program deploys on a Swarm.
 */
export function threeHostCapacity(users = 300): Record<string, unknown> {
  return {
    ...stackCapacity(users),
    hosts: [
      { name: "automation", ramMB: 4096, cpus: 2, diskGB: 10, priceRubPerMonth: 554 },
      { name: "data", ramMB: 4096, cpus: 2, diskGB: 30, priceRubPerMonth: 714 },
      { name: THIRD_HOST.name, ramMB: 2048, cpus: 1, diskGB: 10, priceRubPerMonth: 400 },
    ],
    services: [
      ...SERVICE_DEFAULTS.map((s) => (s.name === "worker" ? { ...s, host: THIRD_HOST.name } : s)),
      METRICS_RELAY_SERVICE,
    ],
  };
}

/** `tapbot:extraHosts` for {@link threeHostCapacity}, as Pulumi hands it to the program (JSON text). */
export const THREE_HOST_EXTRA_HOSTS = JSON.stringify([THIRD_HOST]);

/** The plan of {@link threeHostCapacity}, computed by the capacity model as the program computes it. */
export function threeHostPlan(capacity: Record<string, unknown> = threeHostCapacity()): Plan {
  return plan(
    loadCapacityInput({
      raw: capacity,
      baseDir: ".",
      readFile: (p) => readFileSync(p, "utf8"),
      defaultCalibrationFile: DEFAULT_CALIBRATION_FILE,
    }),
  );
}

/**
 * capacity/examples/three-hosts.yaml, the capacity model's own three-host example (bot and workers without a
 * host, placed by the plan over automation and app-2; app-2's agents pinned beside it), as a stack would hold
 * it: the calibration path relative to the stack file, fal's limit set, the image built off the hosts.
 */
export function exampleThreeHostCapacity(): Record<string, unknown> {
  const example = parse(readFileSync("capacity/examples/three-hosts.yaml", "utf8")) as Record<
    string,
    unknown
  >;
  return { ...example, calibration: "capacity/calibration.json", providerConcurrency: 300, imageBuild: null };
}

/** The example's third host in `tapbot:extraHosts`. */
export const APP_2 = { ...THIRD_HOST, name: "app-2" } as const;
