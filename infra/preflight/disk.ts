import type { HostPlan } from "../../capacity/index.js";
import { type PreflightRow, row } from "./row.js";

/** The last line of `df -P -B1 <path>`: the mount, its size and what is free, bytes. */
export function parseDf(
  text: string,
): { mount: string; sizeBytes: number; availableBytes: number } | undefined {
  const lines = text.trim().split("\n");
  const fields = lines.at(-1)?.trim().split(/\s+/) ?? [];
  if (lines.length < 2 || fields.length < 6) return undefined;
  const size = Number(fields[1]);
  const available = Number(fields[3]);
  if (!Number.isFinite(size) || !Number.isFinite(available)) return undefined;
  return { mount: fields.slice(5).join(" "), sizeBytes: size, availableBytes: available };
}

const GB = 1024 ** 3;
const gb = (bytes: number) => (bytes / GB).toFixed(1);

/**
 * Disk against the plan, on the filesystem of /var/lib/docker (where images and volumes go; `/` when Docker
 * is not installed yet). The plan's disk includes the system itself (`systemDiskGB`), which is already
 * there, so what the deploy adds is the rest. Less free than that blocks; landing above the plan's disk warn
 * mark warns.
 */
export function diskRow(
  host: string,
  df: string,
  plan: HostPlan,
  systemDiskGB: number,
  warnMark: number,
): PreflightRow {
  const disk = parseDf(df);
  if (disk === undefined)
    return row(
      "disk",
      host,
      "warn",
      "df printed nothing usable",
      "check free space by hand (df -h /var/lib/docker /)",
    );
  const addsGB = Math.max(0, plan.disk.usedGB - systemDiskGB);
  const freeGB = disk.availableBytes / GB;
  const afterFraction = (disk.sizeBytes - disk.availableBytes + addsGB * GB) / disk.sizeBytes;
  const found = `${gb(disk.availableBytes)} GB free of ${gb(disk.sizeBytes)} GB on ${disk.mount}; the deploy adds about ${addsGB.toFixed(1)} GB (images, volumes, logs)`;
  if (freeGB < addsGB) {
    return row(
      "disk",
      host,
      "block",
      found,
      "free space first (old images: docker system df; old logs and backups) or a bigger disk",
    );
  }
  if (afterFraction > warnMark) {
    return row(
      "disk",
      host,
      "warn",
      `${found}: ${Math.round(afterFraction * 100)} % used afterwards, over the ${Math.round(warnMark * 100)} % warn mark`,
      "free space (docker system df, old logs and backups) or the disk alert fires from the first day",
    );
  }
  return row("disk", host, "ok", found);
}
