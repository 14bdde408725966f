import { type PreflightRow, row } from "./row.js";

/** The Ubuntu releases the hardening scripts are written and tested for (apt sources, sshd, ufw, Docker). */
export const SUPPORTED_UBUNTU = ["22.04", "24.04"] as const;

/** `/etc/os-release` as key → value (quotes removed). */
export function parseOsRelease(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] === undefined || match[2] === undefined) continue;
    values.set(match[1], match[2].replace(/^(["'])(.*)\1$/, "$2"));
  }
  return values;
}

/** The OS row of a host: Ubuntu 22.04 or 24.04 is ok; anything else blocks, since the scripts assume them. */
export function osRow(host: string, osRelease: string): PreflightRow {
  const os = parseOsRelease(osRelease);
  const name = os.get("PRETTY_NAME") ?? `${os.get("NAME") ?? "unknown"} ${os.get("VERSION_ID") ?? ""}`.trim();
  const version = os.get("VERSION_ID") ?? "";
  if (os.get("ID") === "ubuntu" && (SUPPORTED_UBUNTU as readonly string[]).includes(version)) {
    return row("os", host, "ok", name);
  }
  return row(
    "os",
    host,
    "block",
    `${name || "no /etc/os-release"}: the deploy supports Ubuntu ${SUPPORTED_UBUNTU.join(" and ")} only`,
    "reinstall the server with Ubuntu 24.04 LTS (or upgrade it) before `pulumi up`: packages, sshd and ufw are set up for those releases",
  );
}
