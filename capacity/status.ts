/** Where a utilization stands against its warn / critical marks. */
export type Status = "ok" | "warn" | "crit";

/** ok below warn, warn from warn, crit from crit (so "staying under warn" means status ok). */
export function statusOf(utilization: number, marks: { warn: number; crit: number }): Status {
  if (utilization >= marks.crit) return "crit";
  if (utilization >= marks.warn) return "warn";
  return "ok";
}
