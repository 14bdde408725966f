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
 * disconnects and invalid users rather than failed passwords) and the recidive jail, which bans for a week
 * an address that fail2ban itself has banned repeatedly; both read the systemd journal (present on every
 * Ubuntu 24.04, unlike rsyslog's auth.log; fail2ban logs there too, see {@link FAIL2BAN_LOG_TARGET}).
 * Every ban goes through ufw (the host's own ports, SSH first) AND into Docker's DOCKER-USER chain for
 * every port and protocol: Docker-published ports (Caddy's 80/443) are DNATed before UFW's INPUT rules and
 * reach containers through FORWARD, so a ufw ban alone would leave them open to the banned address.
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
action_docker = iptables-allports[name=%(__name__)s-docker, chain=DOCKER-USER, protocol=all]
action = %(action_)s
         %(action_docker)s

[sshd]
enabled = true
mode = aggressive
port = ssh
logpath = %(sshd_log)s
backend = systemd

[recidive]
enabled = true
backend = systemd
filter = ${RECIDIVE_FILTER}
bantime = ${options.recidiveBantime}
findtime = 1d
maxretry = 5
`,
  };
}

/** Name of the recidive filter this deployment installs (filter.d/<name>.conf). */
export const RECIDIVE_FILTER = "tapbot-recidive";

/**
 * fail2ban.d drop-in: fail2ban logs to the journal, on every Ubuntu release alike (the packaged default
 * has moved between /var/log/fail2ban.log and the journal), so the recidive jail knows where to read.
 */
export const FAIL2BAN_LOG_TARGET: HostFile = {
  path: "/etc/fail2ban/fail2ban.d/00-tapbot.local",
  mode: "0644",
  content: `# Managed by tapbot infra (Pulumi).
[Definition]
logtarget = SYSTEMD-JOURNAL
`,
};

/**
 * The recidive filter for fail2ban's own journal entries. Logging to the journal, fail2ban writes a ban as
 * the bare message "[sshd] Ban 203.0.113.9" (its journal handler gets no formatter, so no "NOTICE" word)
 * at PRIORITY=4 (python-systemd maps fail2ban's NOTICE level, 25, to warning): the packaged filter expects
 * "NOTICE [sshd] Ban" and matches only PRIORITY=5, so it never fires. This one takes the line with or without
 * the level word, from fail2ban's unit at any priority; a ban by recidive itself, an unban or a ban restored
 * at restart ("Restore Ban") does not count.
 */
export const RECIDIVE_FILTER_FILE: HostFile = {
  path: `/etc/fail2ban/filter.d/${RECIDIVE_FILTER}.conf`,
  mode: "0644",
  content: String.raw`# Managed by tapbot infra (Pulumi). See infra/render/fail2ban-jail.ts for why not the packaged recidive.conf.
[INCLUDES]
before = common.conf

[Definition]
_daemon = fail2ban(?:-server|\.actions)?
_jailname = recidive
failregex = ^%(__prefix_line)s(?:\s*fail2ban\.actions\s*%(__pid_re)s?:\s+)?(?:NOTICE\s+)?\[(?!%(_jailname)s\])[^\]]+\]\s+Ban\s+<HOST>\s*$
ignoreregex =
journalmatch = _SYSTEMD_UNIT=fail2ban.service
`,
};

/**
 * systemd drop-in: fail2ban starts after Docker, so the DOCKER-USER chain its bans jump from exists (Docker
 * creates it and never flushes it; fail2ban re-checks its jump before every ban).
 */
export const FAIL2BAN_AFTER_DOCKER: HostFile = {
  path: "/etc/systemd/system/fail2ban.service.d/tapbot-after-docker.conf",
  mode: "0644",
  content: `# Managed by tapbot infra (Pulumi).
[Unit]
After=docker.service
Wants=docker.service
`,
};

/**
 * Installs the log target, the recidive filter, the ordering drop-in and jail.local; when any changed, checks
 * the whole configuration with `fail2ban-client -t` (a failing check stops the script before the restart)
 * and restarts fail2ban once.
 */
export function renderFail2banScript(options: Fail2banOptions): string {
  const files = [FAIL2BAN_LOG_TARGET, RECIDIVE_FILTER_FILE, FAIL2BAN_AFTER_DOCKER, renderJailLocal(options)];
  return `${scriptPrelude("fail2ban: sshd and recidive jails, banning through ufw and Docker's DOCKER-USER chain")}
changed=0
${files.map((file) => installFileLines(file, ["changed=1"])).join("")}if [ "$changed" -eq 1 ]; then
  systemctl daemon-reload
  fail2ban-client -t
  systemctl restart fail2ban.service
fi
systemctl enable --now fail2ban.service
`;
}
