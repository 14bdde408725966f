import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { postgresCommandArgs, renderPostgresSettings } from "../../infra/render/postgres-settings.js";
import { type PostgresServer, startPostgres } from "../support/postgres-server.js";

let server: PostgresServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** The plan's PostgreSQL settings, failing loudly if the plan has no PostgreSQL. */
function postgresPlan(capacity: Record<string, unknown>) {
  const settings = plan(parsePlanInput(capacity)).postgres;
  if (settings === null) throw new Error("the plan has no postgres service");
  return settings;
}

describe("a throwaway PostgreSQL started with the rendered settings", () => {
  it.each([
    ["the default 1 GB container (300 users)", { users: 300 }],
    [
      "a 2 GB container",
      {
        users: 300,
        services: [
          { name: "redis", host: "automation", baseMB: 256, reservationMB: 64 },
          { name: "n8n", host: "automation", baseMB: 512, reservationMB: 320 },
          { name: "bot", host: "automation", baseMB: 150, reservationMB: 100, perUserMB: 18 },
          { name: "worker", host: "automation", baseMB: 250, reservationMB: 100 },
          { name: "postgres", host: "data", baseMB: 2048, reservationMB: 1024 },
          { name: "directus", host: "data", baseMB: 512, reservationMB: 256 },
          { name: "qdrant", host: "data", baseMB: 512, reservationMB: 256 },
        ],
      },
    ],
  ])("runs with the plan's memory settings for %s", async (_label, capacity) => {
    const planned = postgresPlan(capacity);
    const settings = renderPostgresSettings(planned);
    server = await startPostgres({ settings });
    const client = new pg.Client({ connectionString: server.url });
    await client.connect();
    try {
      const shown = async (name: string) =>
        ((await client.query(`SHOW ${name}`)).rows[0] as Record<string, string>)[name];
      expect(await shown("shared_buffers")).toBe(`${planned.sharedBuffersMB}MB`);
      expect(await shown("effective_cache_size")).toBe(`${planned.effectiveCacheSizeMB}MB`);
      expect(await shown("work_mem")).toBe(`${planned.workMemKB}kB`);
      expect(await shown("maintenance_work_mem")).toBe(`${planned.maintenanceWorkMemMB}MB`);
      expect(await shown("max_connections")).toBe(String(planned.maxConnections));
    } finally {
      await client.end();
    }
    expect(postgresCommandArgs(settings)).toContain(`shared_buffers=${planned.sharedBuffersMB}MB`);
  });

  it("refuses a shm_size below shared_buffers", () => {
    const planned = postgresPlan({ users: 1 });
    expect(() => renderPostgresSettings({ ...planned, shmSizeMB: planned.sharedBuffersMB - 1 })).toThrow(
      /shmSizeMB/,
    );
  });
});
