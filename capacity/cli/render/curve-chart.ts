import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { Curve, PlanInput } from "../../index.js";
import { percent } from "./format.js";

const WIDTH = 640;
const HEIGHT = 240;

/** The vertical mark where the plan first binds, with its label; none when the whole range fits. */
function bindLayers(curve: Curve) {
  if (curve.binds === null) return [];
  const label = `${curve.binds.resource} binds at ${curve.binds.maxUsers} users`;
  const datum = { values: [{ users: curve.binds.maxUsers, label }] };
  return [
    {
      data: datum,
      mark: { type: "rule", color: "#6a3d9a", strokeWidth: 2 },
      encoding: { x: { field: "users", type: "quantitative" } },
    },
    {
      data: datum,
      mark: { type: "text", align: "left", dx: 4, dy: -6, color: "#6a3d9a", fontWeight: "bold" },
      encoding: {
        x: { field: "users", type: "quantitative" },
        y: { value: 8 },
        text: { field: "label" },
      },
    },
  ];
}

function thresholdRule(value: number, label: string, color: string, format: (v: number) => string) {
  const datum = { values: [{ value, label: `${label} ${format(value)}` }] };
  return [
    {
      data: datum,
      mark: { type: "rule", color, strokeDash: [6, 4] },
      encoding: { y: { field: "value", type: "quantitative" } },
    },
    {
      data: datum,
      mark: { type: "text", align: "right", dy: -5, color },
      encoding: {
        y: { field: "value", type: "quantitative" },
        x: { value: WIDTH },
        text: { field: "label" },
      },
    },
  ];
}

/**
 * The curve as a Vega-Lite spec: RAM utilization per host against the warn and critical lines, and the p95
 * queue wait against its target, both over users, with the point where the plan first binds marked.
 */
function curveChartSpec(curve: Curve, input: PlanInput): TopLevelSpec {
  const ram = curve.points.flatMap((p) =>
    p.hosts.map((h) => ({ users: p.users, host: h.name, ram: h.utilization })),
  );
  const wait = curve.points.map((p) => ({ users: p.users, p95: p.p95WaitSeconds }));
  const pct = (v: number) => percent(v, 0);
  const x = { field: "users", type: "quantitative", title: "users" } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Capacity curve",
    vconcat: [
      {
        width: WIDTH,
        height: HEIGHT,
        title: "RAM utilization per host",
        layer: [
          {
            data: { values: ram },
            mark: { type: "line", point: curve.points.length <= 60 },
            encoding: {
              x,
              y: { field: "ram", type: "quantitative", title: "RAM used / host RAM", axis: { format: "%" } },
              color: { field: "host", type: "nominal", title: "host" },
            },
          },
          ...thresholdRule(input.thresholds.ram.warn, "warn", "#e69f00", pct),
          ...thresholdRule(input.thresholds.ram.crit, "critical", "#d62728", pct),
          ...bindLayers(curve),
        ],
      },
      {
        width: WIDTH,
        height: HEIGHT,
        title: "p95 queue wait at peak (gaps: unstable queue)",
        layer: [
          {
            data: { values: wait },
            mark: { type: "line", color: "#1f77b4", point: curve.points.length <= 60 },
            encoding: { x, y: { field: "p95", type: "quantitative", title: "p95 wait, s" } },
          },
          ...thresholdRule(input.targetWaitP95Seconds, "target", "#d62728", (v) => `${v} s`),
          ...bindLayers(curve),
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Renders the chart to SVG text, headless (no canvas, no browser). */
export async function curveChartSvg(curve: Curve, input: PlanInput): Promise<string> {
  const view = new View(parse(compile(curveChartSpec(curve, input)).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
