import { POSTGRES_MAX_CONNECTIONS_FLOOR } from "./defaults.js";
import type { PlanInput } from "./schema.js";
import { replicasOf, type Sizing } from "./sizing.js";

/** PostgreSQL connections the deployment can open at once, and the max_connections the plan sets. */
export interface PostgresConnections {
  /** Σ pools of the app's processes (bot replicas + workers, each postgresPoolPerProcess) + Directus + margin. */
  needed: number;
  /** The input's postgresMaxConnections, or max(PostgreSQL's 100, needed). */
  maxConnections: number;
}

/**
 * Every bot and worker process holds a pool of up to postgresPoolPerProcess connections, Directus its own;
 * when they all open them at once (a burst, a restart) PostgreSQL must not refuse one, so max_connections is
 * at least their sum plus a margin for everything else.
 */
export function postgresConnections(input: PlanInput, sizing: Sizing): PostgresConnections {
  const appProcesses = input.services
    .filter((s) => s.name === "bot" || s.name === "worker")
    .reduce((sum, s) => sum + replicasOf(s, sizing), 0);
  const directus = input.services.some((s) => s.name === "directus") ? input.directusPoolMax : 0;
  const needed = appProcesses * input.postgresPoolPerProcess + directus + input.postgresConnectionMargin;
  return {
    needed,
    maxConnections: input.postgresMaxConnections ?? Math.max(POSTGRES_MAX_CONNECTIONS_FLOOR, needed),
  };
}
