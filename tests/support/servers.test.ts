import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { startChild } from "./child-process.js";
import { freePort } from "./free-port.js";
import { startPostgres } from "./postgres-server.js";
import { startRedis } from "./redis-server.js";

describe("freePort", () => {
  it("returns a port a server can listen on", async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => server.close(resolve));
    expect(port).toBeGreaterThan(0);
  });
});

describe("startRedis", () => {
  it("runs a real redis-server with noeviction and removes it on stop", async () => {
    const server = await startRedis();
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      await client.connect();
      await client.set("k", "v");
      expect(await client.get("k")).toBe("v");
      expect(await client.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "noeviction"]);
      expect(await client.config("GET", "save")).toEqual(["save", ""]);
    } finally {
      client.disconnect();
      await server.stop();
    }
    const probe = new Redis(server.url, {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    probe.on("error", () => {});
    await expect(probe.connect()).rejects.toThrow();
    probe.disconnect();
  });

  it("lets args override the defaults", async () => {
    const server = await startRedis({ args: ["--maxmemory-policy", "allkeys-lru"] });
    const client = new Redis(server.url, { lazyConnect: true });
    try {
      await client.connect();
      expect(await client.config("GET", "maxmemory-policy")).toEqual(["maxmemory-policy", "allkeys-lru"]);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it("throws with the server's log when redis-server refuses its arguments", async () => {
    await expect(startRedis({ args: ["--maxmemory-policy", "no-such-policy"] })).rejects.toThrow(
      /redis-server exited during startup[\s\S]*maxmemory-policy/,
    );
  });
});

describe("startPostgres", () => {
  it("runs a real PostgreSQL with a tapbot database and removes it on stop", async () => {
    const server = await startPostgres({ settings: { work_mem: "2MB" } });
    const client = new pg.Client({ connectionString: server.url });
    try {
      await client.connect();
      const { rows } = await client.query<{ db: string; work_mem: string; fsync: string }>(
        "SELECT current_database() AS db, current_setting('work_mem') AS work_mem, current_setting('fsync') AS fsync",
      );
      expect(rows[0]).toEqual({ db: "tapbot", work_mem: "2MB", fsync: "off" });
      await client.query("CREATE TABLE t (id int primary key)");
      await client.query("INSERT INTO t VALUES (1)");
    } finally {
      await client.end();
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
    const probe = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 1_000 });
    probe.on("error", () => {});
    await expect(probe.connect()).rejects.toThrow();
  });

  it("throws with the server's log when a setting is invalid", async () => {
    await expect(startPostgres({ settings: { shared_buffers: "not-a-size" } })).rejects.toThrow(
      /postgres exited during startup[\s\S]*shared_buffers/,
    );
  });
});

describe("clean-up when the owning process is killed", () => {
  it("a SIGTERM to the owner takes its redis-server and temp dir with it", async () => {
    const module = fileURLToPath(new URL("./redis-server.ts", import.meta.url));
    const owner = startChild(process.execPath, [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `const { startRedis } = await import(${JSON.stringify(module)});
       const server = await startRedis();
       console.log("holding " + server.port + " " + server.dir);
       setInterval(() => {}, 1000);`,
    ]);
    const line = await owner.waitForLine(/^holding \d+ \S+$/, 20_000);
    const [, port, dir] = line.split(" ");
    const probe = async (): Promise<string> => {
      const client = new Redis({
        port: Number(port),
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      client.on("error", () => {});
      try {
        await client.connect();
        return await client.ping();
      } finally {
        client.disconnect();
      }
    };
    expect(await probe()).toBe("PONG");
    expect(existsSync(dir ?? "")).toBe(true);
    owner.child.kill("SIGTERM");
    expect(await owner.exited).toBe("SIGTERM");
    await expect(probe()).rejects.toThrow();
    expect(existsSync(dir ?? "")).toBe(false);
  });
});
