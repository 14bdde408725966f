/** PostgreSQL memory settings sized to its container's limit. */
export interface PostgresSettings {
  sharedBuffersMB: number;
  effectiveCacheSizeMB: number;
  workMemKB: number;
  maintenanceWorkMemMB: number;
  maxConnections: number;
  /** Docker's --shm-size; at least shared_buffers. */
  shmSizeMB: number;
}

/**
 * The PGTune rules (web profile) applied to the container limit instead of the machine's RAM, since the limit
 * is all the memory PostgreSQL may take: shared_buffers 25 %, effective_cache_size 75 %,
 * work_mem = (limit − shared_buffers) / (max_connections × 3) but at least 64 kB,
 * maintenance_work_mem = limit / 16 but at most 2 GB.
 */
export function postgresSettings(limitMB: number, maxConnections: number): PostgresSettings {
  const sharedBuffersMB = Math.floor(limitMB / 4);
  return {
    sharedBuffersMB,
    effectiveCacheSizeMB: Math.floor((limitMB * 3) / 4),
    workMemKB: Math.max(64, Math.floor(((limitMB - sharedBuffersMB) * 1024) / (maxConnections * 3))),
    maintenanceWorkMemMB: Math.min(2048, Math.floor(limitMB / 16)),
    maxConnections,
    shmSizeMB: sharedBuffersMB,
  };
}
