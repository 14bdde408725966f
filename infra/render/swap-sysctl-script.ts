import { type HostFile, installFileLines, scriptPrelude } from "./shell-script.js";

/** Memory settings of one host. */
export interface SwapSysctlOptions {
  /** Size of /swapfile in MB, from the capacity plan (HostPlan.swapMB). */
  swapMB: number;
  /** vm.swappiness, from config. */
  swappiness: number;
  /** True on the host that runs Redis: vm.overcommit_memory=1 and transparent huge pages off. */
  redisHost: boolean;
}

/**
 * Why the Redis settings: with overcommit_memory=0 the fork for an AOF rewrite can fail on a busy host;
 * with THP on, copy-on-write after that fork copies 2 MB pages and latency and memory jump.
 */
function sysctlFile(options: SwapSysctlOptions): HostFile {
  const lines = [`vm.swappiness = ${options.swappiness}`];
  if (options.redisHost) lines.push("vm.overcommit_memory = 1");
  return {
    path: "/etc/sysctl.d/60-tapbot.conf",
    mode: "0644",
    content: `# Managed by tapbot infra (Pulumi).\n${lines.join("\n")}\n`,
  };
}

/** A oneshot unit that turns THP off at every boot, before Docker starts Redis. */
const THP_UNIT: HostFile = {
  path: "/etc/systemd/system/tapbot-thp-never.service",
  mode: "0644",
  content: `# Managed by tapbot infra (Pulumi): transparent huge pages off for Redis.
[Unit]
Description=Disable transparent huge pages (Redis)
Before=docker.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo never > /sys/kernel/mm/transparent_hugepage/enabled && echo never > /sys/kernel/mm/transparent_hugepage/defrag'
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`,
};

/**
 * /swapfile of exactly the plan's size (recreated only when the size differs), in fstab once; swappiness
 * and, on the Redis host, overcommit and THP off, applied now and at every boot.
 */
export function renderSwapSysctlScript(options: SwapSysctlOptions): string {
  if (!Number.isInteger(options.swapMB) || options.swapMB < 256 || options.swapMB > 65536) {
    throw new Error(`swapMB must be an integer 256..65536; got ${options.swapMB}`);
  }
  if (!Number.isInteger(options.swappiness) || options.swappiness < 0 || options.swappiness > 100) {
    throw new Error(`swappiness must be an integer 0..100; got ${options.swappiness}`);
  }
  const thp = options.redisHost
    ? `${installFileLines(THP_UNIT, ["systemctl daemon-reload"])}systemctl enable --now tapbot-thp-never.service\n`
    : "";
  return `${scriptPrelude("swap of the plan's size and memory sysctls")}
swap_bytes=$((${options.swapMB} * 1024 * 1024))
current=0
if [ -f /swapfile ]; then current="$(stat -c %s /swapfile)"; fi
if [ "$current" -ne "$swap_bytes" ]; then
  if swapon --show=NAME --noheadings | grep -qx /swapfile; then swapoff /swapfile; fi
  rm -f /swapfile
  fallocate -l "$swap_bytes" /swapfile
  chmod 0600 /swapfile
  mkswap /swapfile >/dev/null
fi
if ! swapon --show=NAME --noheadings | grep -qx /swapfile; then swapon /swapfile; fi
if ! grep -qE '^/swapfile[[:space:]]' /etc/fstab; then
  echo '/swapfile none swap sw 0 0' >>/etc/fstab
fi
${installFileLines(sysctlFile(options), ["sysctl -p /etc/sysctl.d/60-tapbot.conf >/dev/null"])}${thp}`;
}
