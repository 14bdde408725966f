import type { PostgresSettings } from "../../capacity/index.js";

/**
 * postgresql.conf settings from the plan, with units spelled the way postgres reads them. shm_size is not a
 * postgres setting: the container gets it (it must be ≥ shared_buffers for parallel queries' DSM segments).
 */
export function renderPostgresSettings(plan: PostgresSettings): Record<string, string> {
  for (const [key, value] of Object.entries(plan)) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`postgres ${key} must be an integer ≥ 1; got ${value}`);
  }
  if (plan.shmSizeMB < plan.sharedBuffersMB) {
    throw new Error(
      `postgres shmSizeMB (${plan.shmSizeMB}) must be ≥ sharedBuffersMB (${plan.sharedBuffersMB})`,
    );
  }
  return {
    shared_buffers: `${plan.sharedBuffersMB}MB`,
    effective_cache_size: `${plan.effectiveCacheSizeMB}MB`,
    work_mem: `${plan.workMemKB}kB`,
    maintenance_work_mem: `${plan.maintenanceWorkMemMB}MB`,
    max_connections: String(plan.maxConnections),
  };
}

/** The settings as `postgres -c name=value` arguments for the container command. */
export function postgresCommandArgs(settings: Record<string, string>): string[] {
  return Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
}
