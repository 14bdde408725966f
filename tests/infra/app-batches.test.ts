import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { parsePlanInput, plan } from "../../capacity/index.js";
import { App } from "../../infra/components/app.js";
import { readInfraConfig } from "../../infra/config.js";
import { installMocks, resolve, setStackConfig } from "./helpers/pulumi-mocks.js";
import { TEST_HOST_KEYS } from "./helpers/stack-config.js";

beforeAll(async () => {
  await installMocks();
});

/** The App component alone, recording for each bot and worker the containers it depends on (by URN name). */
async function appDependencies(users: number, batchSize: number): Promise<Map<string, string[]>> {
  setStackConfig(users, { "tapbot:workerBatchSize": String(batchSize) });
  const config = readInfraConfig();
  const deps = new Map<string, pulumi.Output<string>[]>();
  const record: pulumi.ResourceTransformation = (args) => {
    if (/-(bot|worker)-\d+$/.test(args.name)) {
      const dependsOn = (args.opts.dependsOn ?? []) as pulumi.Resource[];
      deps.set(
        args.name,
        dependsOn.map((r) => r.urn),
      );
    }
    return undefined;
  };
  const app = new App(
    `app${users}x${batchSize}`,
    {
      config,
      plan: plan(parsePlanInput({ users, providerConcurrency: 44 })),
      provider: new docker.Provider(`provider${users}x${batchSize}`, {}),
      connection: {
        host: "203.0.113.10",
        user: "root",
        port: 22,
        privateKey: pulumi.secret("key"),
        hostKey: TEST_HOST_KEYS.automation,
      },
      repoRoot: "/nonexistent",
      sourceHash: "0123456789abcdef",
      network: "tapbot",
      redisUrl: pulumi.secret("redis://:x@redis:6379"),
      boardRedisUrl: pulumi.secret("redis://tapbot-board:x@redis:6379"),
      databaseUrl: pulumi.secret("postgres://tapbot:x@10.77.0.2:5432/tapbot"),
      dependsOn: [],
    },
    { transformations: [record] },
  );
  await Promise.all([...app.bots, ...app.workers].map((w) => resolve(w.urn)));
  const byName = new Map<string, string[]>();
  for (const [name, urns] of deps) {
    const resolved = await Promise.all(urns.map((u) => resolve(u)));
    byName.set(
      name.replace(/^app\d+x\d+-/, ""),
      resolved
        .map(
          (u) =>
            u
              .split("::")
              .at(-1)
              ?.replace(/^app\d+x\d+-/, "") ?? u,
        )
        .sort(),
    );
  }
  return byName;
}

// Every container also waits for "image", the step that builds the image off the host and loads it there, and
// for "old-bot-check", the step that stops the deploy while another deployment holds the bot's token.
describe("the rollout order of the app's containers", () => {
  it("replaces the two bots one at a time, then each batch of workers after the whole previous batch", async () => {
    const deps = await appDependencies(300, 4);
    expect(deps.size).toBe(plan(parsePlanInput({ users: 300 })).workers + 2);
    expect(deps.get("bot-1")).toEqual(["image", "old-bot-check"]);
    expect(deps.get("bot-2")).toEqual(["bot-1", "image", "old-bot-check"]);
    expect(deps.get("worker-1")).toEqual(["bot-2", "image", "old-bot-check"]);
    expect(deps.get("worker-4")).toEqual(["bot-2", "image", "old-bot-check"]);
    expect(deps.get("worker-5")).toEqual([
      "image",
      "old-bot-check",
      "worker-1",
      "worker-2",
      "worker-3",
      "worker-4",
    ]);
    expect(deps.get("worker-9")).toEqual([
      "image",
      "old-bot-check",
      "worker-5",
      "worker-6",
      "worker-7",
      "worker-8",
    ]);
    expect(deps.get("worker-10")).toEqual([
      "image",
      "old-bot-check",
      "worker-5",
      "worker-6",
      "worker-7",
      "worker-8",
    ]);
  });

  it("splits even two workers into two batches", async () => {
    const deps = await appDependencies(31, 2);
    expect(deps.get("worker-1")).toEqual(["bot-2", "image", "old-bot-check"]);
    expect(deps.get("worker-2")).toEqual(["image", "old-bot-check", "worker-1"]);
  });
});
