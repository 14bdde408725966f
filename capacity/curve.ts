import { type GrowOutPath, growOutPath } from "./growth.js";
import { plan } from "./plan.js";
import { sizePrometheusRetention } from "./prometheus-retention.js";
import type { PlanInput } from "./schema.js";
import type { Status } from "./status.js";

/** A user range: from, to (inclusive) and step, all whole numbers ≥ 1. */
export interface UserRange {
  from: number;
  to: number;
  step: number;
}

/** The plan's headline figures at one user count. */
export interface CurvePoint {
  users: number;
  workers: number;
  workerConcurrency: number;
  servers: number;
  utilization: number;
  p95WaitSeconds: number | null;
  hosts: { name: string; utilization: number; status: Status }[];
  bottleneck: { resource: string; maxUsers: number };
  headroom: number;
}

/** What the range shows: its points, where each host first reaches warn and crit, and where the plan first binds. */
export interface Curve {
  points: CurvePoint[];
  /** Per host, the first user count of the range at or over warn / crit (null: never in the range). */
  crossings: { host: string; warnAt: number | null; critAt: number | null }[];
  /** The first point whose plan does not carry its users: its bottleneck (null: all of the range fits). */
  binds: { resource: string; maxUsers: number; atUsers: number } | null;
  /**
   * Growing out over the range: at which user count each app host would be added, of which offer, and the
   * user count from which one more host no longer helps (growth.ts).
   */
  growOut: GrowOutPath;
}

/** The plan over a range of users, everything else as the input says, and where growing out adds hosts. */
export function curve(input: PlanInput, range: UserRange): Curve {
  const points: CurvePoint[] = [];
  for (let users = range.from; users <= range.to; users += range.step) {
    const p = plan({ ...input, users });
    points.push({
      users,
      workers: p.workers,
      workerConcurrency: p.workerConcurrency,
      servers: p.queue.servers,
      utilization: p.queue.utilization,
      p95WaitSeconds: p.queue.p95WaitSeconds,
      hosts: p.hosts.map((h) => ({ name: h.name, utilization: h.utilization, status: h.status })),
      bottleneck: p.bottleneck,
      headroom: p.headroom,
    });
  }
  const crossings = input.hosts.map((h) => {
    const first = (statuses: Status[]) =>
      points.find((pt) => statuses.includes(pt.hosts.find((x) => x.name === h.name)?.status ?? "ok"))
        ?.users ?? null;
    return { host: h.name, warnAt: first(["warn", "crit"]), critAt: first(["crit"]) };
  });
  const over = points.find((pt) => pt.headroom < 1);
  return {
    points,
    crossings,
    binds: over === undefined ? null : { ...over.bottleneck, atUsers: over.users },
    growOut: growOutPath(sizePrometheusRetention({ ...input, users: range.from }).input, range.to),
  };
}
