import { describe, expect, it } from "vitest";
import { runTool } from "./helpers/run-tool.js";
import { stackPlan } from "./helpers/stack-config.js";

describe("the entry point under node --import tsx (Pulumi.yaml's runtime options)", () => {
  it("imports infra/index.ts as an ES module and exports the stack outputs", async () => {
    const result = await runTool(process.execPath, ["--import", "tsx", "tests/infra/helpers/load-entry.ts"], {
      env: { ...process.env, TAPBOT_TEST_USERS: "100" },
      timeoutMs: 60_000,
    });
    expect(result.code, result.stderr).toBe(0);
    const line = result.stdout.trim().split("\n").at(-1) ?? "";
    const loaded = JSON.parse(line) as { exports: string[]; workers: number };
    expect(loaded.exports).toEqual([
      "bindsFirst",
      "databaseUrl",
      "findings",
      "hosts",
      "urls",
      "users",
      "workers",
    ]);
    expect(loaded.workers).toBe(stackPlan(100).workers);
  }, 60_000);
});
