import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { hashSources } from "../../infra/app-source-hash.js";
import { InfraConfigError, parsePlainConfig, secretProblem } from "../../infra/config.js";
import { checkDeployable } from "../../infra/plan-services.js";
import { planFromConfig } from "../../infra/program.js";

describe("the stack config", () => {
  it("names every missing or invalid key with what is allowed", () => {
    try {
      parsePlainConfig({
        automationHost: "93.189.229.59",
        dataHost: "999.1.1.1",
        sshPort: "70000",
        capacity: { users: 1 },
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InfraConfigError);
      const text = (error as Error).message;
      expect(text).toMatch(/tapbot:dataHost: expected an IPv4 address/);
      expect(text).toMatch(/tapbot:sshPort: /);
      expect(text).toMatch(/tapbot:n8nDomain is required/);
      expect(text).toMatch(/tapbot:acmeEmail is required/);
    }
  });

  it("turns capacity input errors into errors naming tapbot:capacity.<field>", () => {
    expect(() => planFromConfig({ capacity: { users: -5 } })).toThrow(/tapbot:capacity\.users/);
  });
});

describe("the stack's secrets", () => {
  it("takes the board's bcrypt hash, and refuses a password or a cheap hash in its place, never echoing it", () => {
    const hash = bcrypt.hashSync("a long board password", 12);
    expect(secretProblem("boardPasswordHash", hash)).toBeUndefined();
    expect(secretProblem("boardPasswordHash", `${hash}\n`)).toBeUndefined();
    const password = "correct horse battery staple, pasted instead of its hash!!!!";
    expect(password.length).toBeGreaterThanOrEqual(60);
    const refusal = secretProblem("boardPasswordHash", password);
    expect(refusal).toMatch(
      /^tapbot:boardPasswordHash must be a bcrypt hash of cost 10-13, as `npm run --silent board:hash-password` prints it/,
    );
    expect(refusal).not.toContain("horse");
    expect(secretProblem("boardPasswordHash", bcrypt.hashSync("x", 4).padEnd(60, "x"))).toMatch(
      /bcrypt hash/,
    );
    expect(secretProblem("boardPasswordHash", "short")).toBe(
      "tapbot:boardPasswordHash must be at least 60 characters",
    );
    expect(secretProblem("falKey", "fal-key-12345")).toBeUndefined();
  });
});

describe("checkDeployable", () => {
  it("accepts the default plan and refuses one with a service it cannot run or on the wrong host", () => {
    expect(() => checkDeployable(plan(parsePlanInput({ users: 100 })))).not.toThrow();
    const moved = plan(
      parsePlanInput({
        users: 100,
        services: [
          { name: "redis", host: "data", baseMB: 256, reservationMB: 64 },
          { name: "n8n", host: "automation", baseMB: 512, reservationMB: 320 },
          { name: "bot", host: "automation", baseMB: 150, reservationMB: 100, perUserMB: 18 },
          { name: "worker", host: "automation", baseMB: 250, reservationMB: 100 },
          { name: "postgres", host: "data", baseMB: 1024, reservationMB: 512 },
          { name: "directus", host: "data", baseMB: 512, reservationMB: 256 },
          { name: "qdrant", host: "data", baseMB: 512, reservationMB: 256 },
          { name: "api", host: "automation", baseMB: 200, reservationMB: 120 },
        ],
      }),
    );
    expect(() => checkDeployable(moved)).toThrow(
      /"api" is not one this program runs[\s\S]*"redis" must be on the automation host/,
    );
  });
});

describe("the app image tag", () => {
  it("depends on content only: same files in any order give the same tag, one changed byte a new one", () => {
    const a = { path: "app/a.ts", content: Buffer.from("export const a = 1;\n") };
    const b = { path: "package.json", content: Buffer.from("{}") };
    expect(hashSources([a, b])).toBe(hashSources([b, a]));
    expect(hashSources([a, b])).not.toBe(
      hashSources([{ ...a, content: Buffer.from("export const a = 2;\n") }, b]),
    );
    expect(hashSources([a, b])).toMatch(/^[0-9a-f]{16}$/);
  });
});
