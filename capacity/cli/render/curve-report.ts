import type { Curve } from "../../index.js";
import { type Block, cell, STATUS_TONE } from "./document.js";
import { num, percent } from "./format.js";

/** The curve as a table (one row per user count) and the lines that say where hosts cross and what binds. */
export function curveReport(curve: Curve, svgPath: string): Block[] {
  const hosts = curve.points[0]?.hosts.map((h) => h.name) ?? [];
  const blocks: Block[] = [
    {
      kind: "title",
      text: `Capacity curve, ${curve.points[0]?.users ?? 0} to ${curve.points.at(-1)?.users ?? 0} users`,
    },
    {
      kind: "table",
      header: [
        "users",
        "workers × jobs",
        "ρ",
        "p95 wait s",
        ...hosts.map((h) => `RAM ${h}`),
        "binds first",
        "at users",
      ],
      right: [true, true, true, true, ...hosts.map(() => true), false, true],
      rows: curve.points.map((p) => [
        cell(String(p.users), "strong"),
        cell(`${p.workers} × ${p.workerConcurrency}`),
        cell(num(p.utilization)),
        cell(
          p.p95WaitSeconds === null ? "unstable" : num(p.p95WaitSeconds),
          p.p95WaitSeconds === null ? "error" : undefined,
        ),
        ...p.hosts.map((h) => cell(percent(h.utilization), STATUS_TONE[h.status])),
        cell(p.bottleneck.resource, p.headroom < 1 ? "error" : undefined),
        cell(String(p.bottleneck.maxUsers)),
      ]),
    },
  ];
  for (const c of curve.crossings) {
    const at = (n: number | null) => (n === null ? "not in this range" : `from ${n} users`);
    blocks.push({
      kind: "line",
      cells: [
        cell(`${c.host}: `, "strong"),
        cell(`warn ${at(c.warnAt)}`, "warn"),
        cell(", "),
        cell(`critical ${at(c.critAt)}`, "crit"),
      ],
    });
  }
  blocks.push({
    kind: "line",
    cells:
      curve.binds === null
        ? [cell("Nothing binds in this range.", "ok")]
        : [
            cell("Binds first: "),
            cell(`${curve.binds.resource} at ${curve.binds.maxUsers} users`, "error"),
            cell(` (first seen at the ${curve.binds.atUsers}-user point)`),
          ],
  });
  blocks.push(...growOutLines(curve));
  blocks.push({ kind: "line", cells: [cell(`Chart: ${svgPath}`, "dim")] });
  return blocks;
}

/** Where growing out adds a host over the range, and where it stops helping. */
function growOutLines(curve: Curve): Block[] {
  const { hostsAdded, stuckAtUsers } = curve.growOut;
  const blocks: Block[] = hostsAdded.map((h) => ({
    kind: "line",
    cells: [
      cell("Grow out: "),
      cell(`at ${h.atUsers} users add ${h.host}`, "strong"),
      cell(
        ` (${h.offer}, role app, +${h.addedRubPerMonth} RUB/month, ${h.costRubPerMonth} RUB/month in all)`,
      ),
    ],
  }));
  if (stuckAtUsers !== null) {
    blocks.push({
      kind: "line",
      cells: [
        cell(
          `Grow out: from ${stuckAtUsers} users one more host of no catalog offer brings every host under its warn marks (what binds is not the bot's or the workers'); see plan's growth there.`,
          "warn",
        ),
      ],
    });
  } else if (hostsAdded.length === 0) {
    blocks.push({ kind: "line", cells: [cell("Grow out: no host needs adding in this range.", "ok")] });
  }
  return blocks;
}
