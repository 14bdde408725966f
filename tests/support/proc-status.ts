import { readFile } from "node:fs/promises";

/**
 * Resident set size of a process now, bytes: VmRSS of /proc/<pid>/status, the memory a cgroup limit counts.
 * Tests, the demo and the benchmarks all read a process's memory through this one parser.
 */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}
