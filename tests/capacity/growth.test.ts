import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  adviseGrowth,
  DEFAULT_CALIBRATION_FILE,
  loadCapacityInput,
  type PlanInput,
  parsePlanInput,
  plan,
  withAppHost,
} from "../../capacity/index.js";
import { checkDeployable } from "../../infra/plan-services.js";
import { type Run, root, runCapacity } from "./support.js";

/** Pulumi.prod.yaml's tapbot:capacity, calibrated as the CLI and the program read it, at `users`. */
function prod(users?: number): PlanInput {
  const stack = parse(readFileSync(`${root}Pulumi.prod.yaml`, "utf8"));
  const raw = { ...stack.config["tapbot:capacity"], ...(users === undefined ? {} : { users }) };
  return loadCapacityInput({
    raw,
    baseDir: root,
    readFile: (path) => readFileSync(path, "utf8"),
    defaultCalibrationFile: DEFAULT_CALIBRATION_FILE,
  });
}

/** The growth `capacity plan` prints beside the plan. */
const growthOf = (input: PlanInput) => adviseGrowth(input, plan(input));

/** The most users the hosts of a plan carry under their marks, from its own limits. */
const hostsCarry = (input: PlanInput) =>
  Math.min(
    ...plan(input)
      .limits.filter((l) => /^(ram|cpu|disk):/.test(l.resource))
      .map((l) => l.maxUsers),
  );

const allUnderWarn = (input: PlanInput) =>
  plan(input).hosts.every((h) => h.status === "ok" && h.cpu.status === "ok" && h.disk.status === "ok");

/** `capacity plan --stack prod` and the curve infra/SCALING.md quotes, each run once for the tests that read them. */
let planRun: Promise<Run> | undefined;
let curveRun: Promise<Run> | undefined;
const prodPlan = () => {
  planRun ??= runCapacity(root, "plan", "--stack", "prod");
  return planRun;
};
const prodCurve = () => {
  curveRun ??= runCapacity(root, ...CURVE.split(" "), "--out", "/dev/null");
  return curveRun;
};
const CURVE = "curve --stack prod --from 500 --to 30000 --step 500";
const REDIS_HOST_CURVE =
  "curve --config capacity/examples/redis-host.yaml --from 1000 --to 40000 --step 1000";

describe("growing up or out", () => {
  it("on the prod stack: from the first user count the two hosts do not carry, one more 4 GB app host is far cheaper than a bigger automation host", () => {
    const growth = growthOf(prod());
    const carried = hostsCarry(prod());
    expect(growth.hostsCarryUsers).toBe(carried);
    expect(growth.neededAtUsers).toBe(carried + 1);
    expect(allUnderWarn(prod(carried))).toBe(true);
    expect(allUnderWarn(prod(carried + 1))).toBe(false);

    // Growing out: the cheapest offer, 554 RUB/month, a host named app-1 that gets bot and worker replicas.
    expect(growth.out).toMatchObject({ host: "app-1", offer: "2cpu-4gb-10gb", addedRubPerMonth: 554 });
    const offer = prod().catalog.find((o) => o.name === "2cpu-4gb-10gb");
    if (offer === undefined) throw new Error("no 2cpu-4gb-10gb offer");
    const out = withAppHost(prod(carried + 1), offer);
    const grown = plan(out);
    expect(allUnderWarn(out)).toBe(true);
    const app1 = grown.hosts.find((h) => h.name === "app-1");
    expect(app1?.services.map((s) => s.name).sort()).toEqual([
      "bot",
      "cadvisor-app-1",
      "node-exporter-app-1",
      "worker",
    ]);
    expect(grown.hosts.find((h) => h.name === "data")?.services.some((s) => s.name === "worker")).toBe(false);
    expect(growth.out?.carriesUsers).toBe(hostsCarry(out));

    // Growing up: automation to the 8 GB offer, 4326 RUB/month more.
    expect(growth.up?.upgrades.map((u) => [u.host, u.to])).toEqual([["automation", "C4-M8-D120"]]);
    expect(growth.up?.addedRubPerMonth).toBe(4880 - 554);
    expect(growth.cheaper).toBe("out");
  });

  it("growing out past two hosts pays for the metrics relay beside Caddy, and the program deploys the grown plan", () => {
    const input = prod(800);
    const offer = input.catalog.find((o) => o.name === growthOf(input).out?.offer);
    if (offer === undefined) throw new Error("no grow-out offer at 800 users");
    const grown = withAppHost(input, offer);
    const caddyHost = input.services.find((s) => s.name === "caddy")?.host;
    expect(grown.services.filter((s) => s.name === "metrics-relay").map((s) => s.host)).toEqual([caddyHost]);
    expect(() => checkDeployable(plan(grown))).not.toThrow();
    // Two hosts need none: the program refuses the relay there.
    expect(input.services.some((s) => s.name === "metrics-relay")).toBe(false);
  });

  it("says up when a bigger offer costs less than one more host", () => {
    const input = prod(1000);
    const cheapBig = { name: "big-cheap", cpus: 4, ramMB: 8192, diskGB: 40, priceRubPerMonth: 700 };
    const growth = growthOf({ ...input, catalog: [...input.catalog, cheapBig] });
    expect(growth.up?.upgrades.map((u) => u.to)).toEqual(["big-cheap"]);
    expect(growth.up?.addedRubPerMonth).toBe(700 - 554);
    expect(growth.out?.addedRubPerMonth).toBe(554);
    expect(growth.cheaper).toBe("up");
  });

  it("offers no growing out when what binds is a host that runs no bot or worker", () => {
    // data's 30 GB disk at a 3 GB-per-service qdrant: disk:data binds, which an app host cannot relieve.
    const input = parsePlanInput({
      users: 100,
      services: [
        { name: "redis", host: "automation", baseMB: 256 },
        { name: "bot", host: "automation", baseMB: 200, replicas: 2 },
        { name: "worker", host: "automation", baseMB: 200 },
        { name: "qdrant", host: "data", baseMB: 512, diskGB: 25 },
      ],
    });
    const growth = growthOf(input);
    expect(growth.out).toBeNull();
    expect(growth.up?.upgrades.map((u) => u.host)).toEqual(["data"]);
  });

  it("`capacity plan` prints both ways with their prices, and `capacity curve` the user counts at which hosts are added", async () => {
    const [text, curve] = await Promise.all([prodPlan(), prodCurve()]);
    expect(text.code).toBe(0);
    const carried = hostsCarry(prod());
    expect(text.stdout).toContain(
      `Growth: the hosts carry ${carried} users under every warn mark; from ${carried + 1} users a step is needed.`,
    );
    expect(text.stdout).toMatch(/\n {2}up +automation → C4-M8-D120 +\+4326 +5594 +\d+ users\n/);
    expect(text.stdout).toMatch(
      /\n {2}out +\+ app-1 \(2cpu-4gb-10gb, role app: bot and worker replicas\) +\+554 +1822 +\d+ users +← cheaper\n/,
    );
    expect(curve.code).toBe(0);
    const added = [...curve.stdout.matchAll(/Grow out: at (\d+) users add (app-\d+) \(2cpu-4gb-10gb/g)].map(
      (m) => ({
        atUsers: Number(m[1]),
        host: m[2],
      }),
    );
    expect(added.map((h) => h.host).slice(0, 2)).toEqual(["app-1", "app-2"]);
    expect(added[0]?.atUsers).toBe(carried + 1);
    // The second host comes where the three hosts stop carrying the users.
    const offer = prod().catalog.find((o) => o.name === "2cpu-4gb-10gb");
    if (offer === undefined) throw new Error("no 2cpu-4gb-10gb offer");
    expect(added[1]?.atUsers).toBe(hostsCarry(withAppHost(prod(), offer)) + 1);
  });

  it("infra/SCALING.md quotes the growth `capacity plan --stack prod` prints and the hosts its curve adds, line for line", async () => {
    const scaling = readFileSync(`${root}infra/SCALING.md`, "utf8");
    expect(scaling).toContain(`npm run capacity -- ${CURVE}`);
    const [text, curve, redisHost] = await Promise.all([
      prodPlan(),
      prodCurve(),
      runCapacity(root, ...REDIS_HOST_CURVE.split(" "), "--out", "/dev/null"),
    ]);
    expect(scaling).toContain(`npm run capacity -- ${REDIS_HOST_CURVE.replace("--config ", "--config\n")}`);
    const growth = text.stdout.split("\n").filter((l) => /^ {2}(Growth:|grow |up |out )/.test(l));
    const grownOut = [curve, redisHost].flatMap((run) =>
      run.stdout.split("\n").filter((l) => l.startsWith("  Grow out:")),
    );
    expect(growth).toHaveLength(4);
    expect(grownOut.length).toBeGreaterThan(8);
    for (const line of [...growth, ...grownOut]) expect(scaling).toContain(line);
  });
});
