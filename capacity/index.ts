/**
 * The capacity model: the one place every size of the deployment comes from. `infra/` and the CLI import only
 * from here. Pure: no I/O, no Pulumi, no Redis.
 */
export {
  applyCalibration,
  CALIBRATED_INPUTS,
  type Calibration,
  calibrationSchema,
  parseCalibration,
} from "./calibration.js";
export { type Curve, type CurvePoint, curve, type UserRange } from "./curve.js";
export { DEFAULT_CALIBRATION_FILE, PROFILES, type Profile } from "./default-calibration.js";
export { HOST_AGENTS, METRICS_RELAY_SERVICE, TELEGRAM_CALLS_PER_JOB } from "./defaults.js";
export { erlangB, erlangC } from "./erlang.js";
export { adviseGrowth, type GrowOutPath, growOutPath, type HostAdded, withAppHost } from "./growth.js";
export { CapacityInputError, type InputIssue } from "./input-error.js";
export type { Limits, ResourceLimit } from "./limits.js";
export {
  CalibrationFileError,
  type CapacityInputSources,
  loadCapacityInput,
} from "./load-capacity-input.js";
export {
  APP_ROLE,
  hostAdmits,
  type Overflow,
  type Placement,
  type PlacementHost,
  placeReplicas,
  type ReplicaDemand,
} from "./placement.js";
export { plan } from "./plan.js";
export type { PostgresSettings } from "./postgres-settings.js";
export { type LoadPrediction, predictLoad } from "./predict.js";
export type { PrometheusRetention } from "./prometheus-retention.js";
export { neededServers, type ProviderPlan } from "./provider.js";
export type { QueueMetrics } from "./queue.js";
export type { RedisSettings } from "./redis-settings.js";
export {
  type HostInput,
  type Offer,
  type PlanInput,
  parsePlanInput,
  planInputSchema,
  type ServiceInput,
  type Thresholds,
} from "./schema.js";
export { POLL_GROWTH, pollLagSeconds, slotSeconds } from "./slot-hold.js";
export type { Status } from "./status.js";
export type {
  Finding,
  GrowOut,
  Growth,
  GrowUp,
  HostPlan,
  LeanWorkers,
  Plan,
  ServicePlan,
  Severity,
  Upgrade,
} from "./types.js";
