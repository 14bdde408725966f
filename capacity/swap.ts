import type { Status } from "./status.js";

/** Swap a host gets: 2 GB once its RAM is at or over warn (a cushion against the OOM killer), else 1 GB. */
export function swapMB(ramStatus: Status): number {
  return ramStatus === "ok" ? 1024 : 2048;
}
