import { type HostFile, installFileLines, scriptPrelude } from "./shell-script.js";

/** Ban policy of the sshd jail; durations in fail2ban's syntax ("10m", "1h", "1w"). */
export interface Fail2banOptions {
  bantime: string;
  findtime: string;
  maxretry: number;
  /** How long the recidive jail bans an address that was banned again and again. */
  recidiveBantime: string;
  /** Addresses never banned (e.g. the other host of the pair). */
  ignoreIps: string[];
}

const DURATION = /^[1-9][0-9]*(s|m|h|d|w)?$/;

/**
 * jail.local: the sshd jail in aggressive mode (with keys-only sshd, scanners show up as preauth
 * disconnects and invalid users rather than failed passwords) reading the systemd journal (present on every
 * Ubuntu 24.04, unlike rsyslog's auth.log), and the recidive jail, which bans for a week an address that
 * fail2ban itself has banned repeatedly. Both ban through ufw, whose rule rejects the address on every port.
 */
export function renderJailLocal(options: Fail2banOptions): HostFile {
  for (const [key, value] of Object.entries({
    bantime: options.bantime,
    findtime: options.findtime,
    recidiveBantime: options.recidiveBantime,
  })) {
    if (!DURATION.test(value)) throw new Error(`fail2ban ${key} must look like 10m, 1h or 1w; got ${value}`);
  }
  if (!Number.isInteger(options.maxretry) || options.maxretry < 1) {
    throw new Error(`fail2ban maxretry must be an integer ≥ 1; got ${options.maxretry}`);
  }
  for (const ip of options.ignoreIps) {
    if (!/^[0-9a-fA-F.:/]+$/.test(ip))
      throw new Error(`fail2ban ignoreip entry must be an address; got ${ip}`);
  }
  return {
    path: "/etc/fail2ban/jail.local",
    mode: "0644",
    content: `# Managed by tapbot infra (Pulumi).
[DEFAULT]
ignoreip = ${["127.0.0.1/8", "::1", ...options.ignoreIps].join(" ")}
bantime = ${options.bantime}
findtime = ${options.findtime}
maxretry = ${options.maxretry}
banaction = ufw
banaction_allports = ufw

[sshd]
enabled = true
mode = aggressive
port = ssh
logpath = %(sshd_log)s
backend = systemd

[recidive]
enabled = true
logpath = /var/log/fail2ban.log
bantime = ${options.recidiveBantime}
findtime = 1d
maxretry = 5
`,
  };
}

/** Installs jail.local, checks it with `fail2ban-client -t`, and restarts fail2ban only when it changed. */
export function renderFail2banScript(options: Fail2banOptions): string {
  return `${scriptPrelude("fail2ban: sshd and recidive jails")}
${installFileLines(renderJailLocal(options), ["fail2ban-client -t", "systemctl restart fail2ban.service"])}systemctl enable --now fail2ban.service
`;
}
