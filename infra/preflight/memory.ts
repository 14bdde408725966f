import type { HostPlan } from "../../capacity/index.js";
import { type PreflightRow, row } from "./row.js";

/** MemTotal and MemAvailable of `/proc/meminfo`, MB; undefined when either is missing. */
export function parseMeminfo(text: string): { totalMB: number; availableMB: number } | undefined {
  const kb = (key: string) => {
    const match = new RegExp(`^${key}:\\s+([0-9]+) kB$`, "m").exec(text);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  };
  const total = kb("MemTotal");
  const available = kb("MemAvailable");
  if (total === undefined || available === undefined) return undefined;
  return { totalMB: Math.round(total / 1024), availableMB: Math.round(available / 1024) };
}

/**
 * RAM against the plan: the host must hold what the plan puts on it (every container's limit and the
 * system's reserve), or the deploy overcommits from the start (block). If what runs today (the old bot,
 * old databases) leaves less free than the plan's containers need, the host swaps until it is stopped (warn).
 */
export function memoryRow(
  host: string,
  meminfo: string,
  plan: HostPlan,
  systemReserveMB: number,
  users: number,
): PreflightRow {
  const mem = parseMeminfo(meminfo);
  if (mem === undefined) {
    return row(
      "ram",
      host,
      "warn",
      "/proc/meminfo has no MemTotal/MemAvailable",
      "check the host's RAM by hand (free -m)",
    );
  }
  const need = Math.round(plan.usedMB);
  const containers = Math.round(plan.usedMB - systemReserveMB);
  const inUse = mem.totalMB - mem.availableMB;
  if (mem.totalMB < need) {
    return row(
      "ram",
      host,
      "block",
      `${mem.totalMB} MB RAM; the plan for ${users} users needs ${need} MB here (${containers} MB of containers + ${systemReserveMB} MB for the system)`,
      "a bigger server, or plan for this host's RAM: set tapbot:capacity.hosts (npm run capacity -- plan --stack <stack>)",
    );
  }
  if (mem.availableMB < containers) {
    return row(
      "ram",
      host,
      "warn",
      `${mem.availableMB} MB free of ${mem.totalMB} MB (${inUse} MB in use now); the plan's containers need ${containers} MB`,
      "stop what the deploy replaces (the old bot, old databases: see the ports rows) before or right after the first up, or the host swaps",
    );
  }
  return row(
    "ram",
    host,
    "ok",
    `${mem.availableMB} MB free of ${mem.totalMB} MB; the plan's containers need ${containers} MB`,
  );
}
