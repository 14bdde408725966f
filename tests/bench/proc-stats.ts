import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { sleep } from "../support/http-kit.js";
import { rssBytes } from "../support/proc-status.js";

/**
 * Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ; 100 on nearly every Linux), asked on first
 * use so that importing median() alone runs nothing.
 */
let ticks: number | undefined;
function ticksPerSecond(): number {
  ticks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return ticks;
}

/** Resident set size of a process now, MB (VmRSS of /proc/<pid>/status: what a cgroup memory limit sees). */
export async function rssMB(pid: number): Promise<number> {
  return (await rssBytes(pid)) / (1024 * 1024);
}

/** CPU seconds a process has used so far, user plus system (utime + stime of /proc/<pid>/stat). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces and parentheses; the fields after its last ")" are fixed.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name and the state.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
}

/** The middle value, or the mean of the two middle values of an even count. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) throw new Error("median of no values");
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * The steady RSS of a process: `count` samples `intervalMs` apart, after the caller's settle period; the
 * median, so one sample caught in the middle of a garbage collection does not decide it.
 */
export async function steadyRssMB(pid: number, count = 5, intervalMs = 250): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < count; i += 1) {
    if (i > 0) await sleep(intervalMs);
    samples.push(await rssMB(pid));
  }
  return median(samples);
}
