import type { ImageBuild } from "./image-build.js";
import type { ResourceLimit } from "./limits.js";
import type { PostgresSettings } from "./postgres-settings.js";
import type { PrometheusRetention } from "./prometheus-retention.js";
import type { ProviderPlan } from "./provider.js";
import type { QueueMetrics } from "./queue.js";
import type { RedisData } from "./redis-data.js";
import type { RedisSettings } from "./redis-settings.js";
import type { Thresholds } from "./schema.js";
import type { SpendingCaps } from "./spending-caps.js";
import type { Status } from "./status.js";

/** How much a finding matters: `error` fails `capacity check`. */
export type Severity = "info" | "warn" | "error";

/** Something a person should know or fix, under a stable code that scripts can match. */
export interface Finding {
  severity: Severity;
  code: string;
  message: string;
}

/** One service as deployed: `limitMB` is Docker's memory limit per replica, `reservationMB` its reservation. */
export interface ServicePlan {
  name: string;
  host: string;
  replicas: number;
  limitMB: number;
  reservationMB: number;
  /** CPU share per replica, cores. */
  cpuCores: number;
}

/** One host: its RAM, CPU and disk against their marks, the swap it gets and what runs on it. */
export interface HostPlan {
  name: string;
  ramMB: number;
  usedMB: number;
  utilization: number;
  status: Status;
  /** ≥ 2048 at or over the RAM warn mark, 1024 otherwise. */
  swapMB: number;
  /** usedMB plus the image build's peak while a deploy builds on this host (= usedMB on other hosts). */
  deployPeakMB: number;
  cpu: { cpus: number; usedCores: number; utilization: number; status: Status };
  disk: { diskGB: number; usedGB: number; utilization: number; status: Status };
  services: ServicePlan[];
}

/** The owner's worker rule against the leanest setting that meets every target, reported as a finding. */
export interface LeanWorkers {
  workers: number;
  workerConcurrency: number;
  /** Worker memory (workers × limit) of the lean setting, and of the rule's, MB. */
  memoryMB: number;
  ruleMemoryMB: number;
  /** ruleMemoryMB − memoryMB. */
  savedMB: number;
  /** The workers' host, and the most users its RAM carries under warn with the lean setting and with the rule. */
  host: string;
  ramMaxUsers: number | null;
  ruleRamMaxUsers: number | null;
}

/** The cheapest catalog offer that brings a host back under warn. */
export interface Upgrade {
  host: string;
  /** The catalog offer the host is today, when its specs match one. */
  from: string | null;
  to: string;
  priceBeforeRubPerMonth: number;
  priceAfterRubPerMonth: number;
}

/** Growing up: each host over a warn mark moved to a bigger catalog offer. */
export interface GrowUp {
  upgrades: Upgrade[];
  /** What it adds to the monthly bill, and the bill after it, RUB/month. */
  addedRubPerMonth: number;
  costRubPerMonth: number;
  /** The most users the hosts then carry under every warn mark (null: unbounded); the step after is needed one past it. */
  carriesUsers: number | null;
}

/** Growing out: one more host of a catalog offer with the role `app`, the bot and worker replicas re-placed. */
export interface GrowOut {
  /** The new host's name and offer. */
  host: string;
  offer: string;
  addedRubPerMonth: number;
  costRubPerMonth: number;
  carriesUsers: number | null;
}

/** When the hosts stop carrying the users, and the two ways to grow then, by monthly price (growth.ts). */
export interface Growth {
  /** The most users today's hosts carry under every RAM, CPU and disk warn mark; null: no count exhausts them. */
  hostsCarryUsers: number | null;
  /** hostsCarryUsers + 1: from here a step is necessary (at or below the plan's users: necessary now). */
  neededAtUsers: number | null;
  /** Priced at the larger of neededAtUsers and the plan's users; null where no catalog offer does it. */
  up: GrowUp | null;
  out: GrowOut | null;
  /** The one that adds less per month (a tie: the one carrying more users). */
  cheaper: "up" | "out" | null;
}

/**
 * The capacity plan: everything the infrastructure sizes. Sizes in MB unless named otherwise, times in
 * seconds, utilization as a fraction. The CLI prints it; the Pulumi program deploys it.
 */
export interface Plan {
  users: number;
  /** Where the service budgets came from when a calibration file was merged over them; null otherwise. */
  calibration: { source: string } | null;
  /** max(1, ceil(users / usersPerWorker)) (the owner's rule), or the worker service's fixed replicas. */
  workers: number;
  /** Steps one worker runs at once: the smallest that keeps each step's wait for a slot within its share. */
  workerConcurrency: number;
  /**
   * The queue for a fal slot at peak (M/G/c, provider.ts): c = the account's providerConcurrency (or, when the input gives
   * none, provider.neededConcurrency), S = jobSeconds. This is the wait users notice.
   */
  queue: QueueMetrics;
  /** fal's account limit: as given, the limit the planned users need, and the users the given one carries. */
  provider: ProviderPlan;
  /** The worker slots as the queue of steps they are (servers = workers × workerConcurrency, S = stepSeconds). */
  workerSteps: {
    queue: QueueMetrics;
    /** Each step's p95 wait target: targetWaitP95Seconds / stepsPerJob. */
    targetWaitP95Seconds: number;
    meetsTarget: boolean;
    /** CPU one worker process spends at peak, cores (its JavaScript runs on one core). */
    cpuCoresPerWorker: number;
  };
  /** The leanest worker setting meeting every target, beside what the rule deploys; null if none does. */
  leanWorkers: LeanWorkers | null;
  hosts: HostPlan[];
  redis: RedisSettings;
  /** What the app keeps in Redis at these users, and the maxmemory it needs (Redis's limit is twice that). */
  redisData: RedisData;
  /** null when the input places no service named `postgres`. */
  postgres: (PostgresSettings & { connectionsNeeded: number }) | null;
  /** Where the app image is built during a deploy, budgeted on that host; null when built elsewhere. */
  imageBuild: ImageBuild | null;
  /** Every resource that some user count exhausts, with that count. */
  limits: ResourceLimit[];
  /** Resources no user count up to the model's maximum exhausts (e.g. the provider when it has no cap). */
  unboundedResources: string[];
  /** The smallest of the limits: what binds first. */
  bottleneck: ResourceLimit;
  /** bottleneck.maxUsers / users: below 1 the plan does not carry its users. */
  headroom: number;
  upgrades: Upgrade[];
  costRubPerMonth: number;
  costAfterUpgradesRubPerMonth: number;
  /** The caps on paid generations the app is deployed with, and the demand they are judged against. */
  spendingCaps: SpendingCaps;
  /** Prometheus's host and the metric data it keeps, sized to that host's disk; null without a prometheus service. */
  prometheus: PrometheusRetention | null;
  /**
   * The warn / critical marks the plan was judged against and the wait target it was sized for, echoed so that
   * what the plan assumes can be watched in production (infra renders the alert rules from them).
   */
  thresholds: Thresholds;
  targetWaitP95Seconds: number;
  findings: Finding[];
}
