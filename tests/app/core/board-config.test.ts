import { spawnSync } from "node:child_process";
import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import { BasicAuthGate, parseBasicAuth } from "../../../app/board/basic-auth.js";
import { boardAction } from "../../../app/board/board-actions.js";
import { loadBoardConfig } from "../../../app/board/board-config.js";
import { ConfigError } from "../../../app/config.js";
import { repoRoot } from "../../support/app-stack.js";

const HASH = bcrypt.hashSync("a long board password", 10);
const minimal = { REDIS_URL: "redis://tapbot-board:s3cret-pass@127.0.0.1:6379", BOARD_PASSWORD_HASH: HASH };

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadBoardConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  throw new Error("expected a ConfigError");
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

describe("loadBoardConfig", () => {
  it("needs only the queue's Redis and the password's hash, listening on loopback unless told", () => {
    expect(loadBoardConfig(minimal)).toMatchObject({
      queueName: "generations",
      user: "owner",
      httpPort: 8090,
      httpHost: "127.0.0.1",
      passwordHash: HASH,
    });
  });

  it("names every bad variable and what is allowed, never a value", () => {
    const problems = problemsOf({
      REDIS_URL: "http://127.0.0.1:6379",
      BOARD_PASSWORD_HASH: "hunter2-in-clear",
      BOARD_USER: "the owner",
      HTTP_HOST: "everywhere",
    });
    expect(problems).toEqual([
      "REDIS_URL: must use redis or rediss",
      "BOARD_USER: must be 1-64 characters of A-Z, a-z, 0-9, ., _ and -",
      expect.stringMatching(
        /^BOARD_PASSWORD_HASH: must be a bcrypt hash of cost 10-13 .*board:hash-password/,
      ),
      "HTTP_HOST: must be an IP address to listen on, like 127.0.0.1 or 0.0.0.0",
    ]);
    expect(problems.join("\n")).not.toContain("hunter2");
    expect(problemsOf({})).toEqual([
      "REDIS_URL: required: a redis or rediss URL",
      expect.stringMatching(/^BOARD_PASSWORD_HASH: required: the bcrypt hash/),
    ]);
    // A cheap hash is refused: it would be cracked in minutes if the stack's secret leaked.
    expect(problemsOf({ ...minimal, BOARD_PASSWORD_HASH: bcrypt.hashSync("x", 4) })).toHaveLength(1);
  });
});

describe("the board's login", () => {
  it("admits the user with the password, and nobody else", async () => {
    const gate = new BasicAuthGate("owner", HASH);
    expect(await gate.admits(undefined)).toBe(false);
    expect(await gate.admits("Bearer abc")).toBe(false);
    expect(await gate.admits(basic("owner", "wrong password"))).toBe(false);
    expect(await gate.admits(basic("admin", "a long board password"))).toBe(false);
    expect(await gate.admits(basic("owner", "a long board password"))).toBe(true);
    // Admitted again from the remembered header, and a different one still goes through bcrypt.
    expect(await gate.admits(basic("owner", "a long board password"))).toBe(true);
    expect(await gate.admits(basic("owner", "a long board password!"))).toBe(false);
  });

  it("reads user:password from the header, a colon in the password included", () => {
    expect(parseBasicAuth(basic("owner", "pa:ss"))).toEqual({ user: "owner", password: "pa:ss" });
    expect(parseBasicAuth(`Basic ${Buffer.from("no-colon").toString("base64")}`)).toBeUndefined();
    expect(parseBasicAuth("Basic !!!")).toBeUndefined();
  });
});

describe("npm run board:hash-password", () => {
  /** The README's command: the password on stdin, the hash on stdout. */
  function hashPassword(password: string) {
    return spawnSync(process.execPath, ["--import", "tsx", "app/board/hash-password.ts"], {
      cwd: repoRoot,
      input: password,
      encoding: "utf8",
    });
  }

  it("prints a cost-12 bcrypt hash of the password read from stdin, which the board accepts", () => {
    const run = hashPassword("a long board password\n");
    expect(run.status).toBe(0);
    const hash = run.stdout.trim();
    expect(hash).toMatch(/^\$2b\$12\$/);
    expect(bcrypt.compareSync("a long board password", hash)).toBe(true);
    expect(loadBoardConfig({ ...minimal, BOARD_PASSWORD_HASH: run.stdout }).passwordHash).toBe(hash);
  });

  it("refuses a password under 12 characters, printing no hash", () => {
    const run = hashPassword("short");
    expect(run.status).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain("the password must be at least 12 characters; got 5");
  });
});

describe("what the board lets through", () => {
  it("reads and retries one job; refuses what would bypass the workers", () => {
    expect(boardAction("GET", "/api/queues")).toEqual({ kind: "read" });
    expect(boardAction("PUT", "/api/queues/generations/abc-1/retry")).toEqual({
      kind: "retry",
      queueName: "generations",
      jobId: "abc-1",
    });
    for (const [method, path] of [
      ["PUT", "/api/queues/generations/empty"],
      ["PUT", "/api/queues/generations/obliterate"],
      ["PUT", "/api/queues/generations/clean/failed"],
      ["PUT", "/api/queues/generations/retry/failed"],
      ["PUT", "/api/queues/generations/abc-1/clean"],
      ["PUT", "/api/queues/generations/abc-1/promote"],
      ["PATCH", "/api/queues/generations/abc-1/update-data"],
      ["POST", "/api/queues/generations/add"],
      ["PUT", "/api/queues/pause"],
    ] as const) {
      expect(boardAction(method, path).kind, `${method} ${path}`).toBe("refused");
    }
  });
});
