import { installFileLines, scriptPrelude } from "./shell-script.js";

/** A port the design publishes to everyone (the reverse proxy's). */
export interface PublicPort {
  port: number;
  proto: "tcp" | "udp";
}

/** Inputs of the DOCKER-USER filter of one host. */
export interface DockerUserOptions {
  /** The tunnel's interface (wg0): the peer host reaches the published services through it. */
  tunnelInterface: string;
  /**
   * Host ports published to everyone: the proxy's 80/tcp, 443/tcp and 443/udp on the automation host,
   * none on the data host. Matched on the port the client asked for (before Docker's DNAT).
   */
  publicPorts: PublicPort[];
}

/** The chain holding the program's rules; DOCKER-USER jumps to it first, the owner's own rules follow. */
export const DOCKER_USER_CHAIN = "TAPBOT-DOCKER-USER";
/** The script that (re)applies the rules: run by the hardening, the systemd unit and ufw's after.init. */
export const DOCKER_USER_APPLY_PATH = "/usr/local/sbin/tapbot-docker-user";
/** The unit that applies them at boot, before dockerd starts any container. */
export const DOCKER_USER_UNIT = "tapbot-docker-user.service";
/** ufw's hook, run with `start` each time ufw loads its rules (boot, enable, reload). */
export const UFW_AFTER_INIT_PATH = "/etc/ufw/after.init";

/**
 * The interfaces containers' own traffic comes from: the default bridge, user-defined bridges (br-<id>) and
 * Swarm's gateway bridge (workers on more hosts). Their traffic may start connections: to the internet
 * (fal, Telegram) and to each other.
 */
const CONTAINER_BRIDGES = ["docker0", "br-+", "docker_gwbridge"];

function check(options: DockerUserOptions): void {
  if (!/^[a-z][a-z0-9]{0,14}$/.test(options.tunnelInterface)) {
    throw new Error(`tunnelInterface must be a Linux interface name; got ${options.tunnelInterface}`);
  }
  for (const { port, proto } of options.publicPorts) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`public port must be 1..65535; got ${port}`);
    }
    if (proto !== "tcp" && proto !== "udp") throw new Error(`public port ${port}: proto must be tcp or udp`);
  }
}

/**
 * The program's chain as `iptables-restore --noflush` input. The chain's line replaces its rules in one
 * transaction, so re-applying never leaves a moment without them. Traffic it lets pass returns to
 * DOCKER-USER and then to Docker's own chains (which accept only published ports); everything else that
 * would be forwarded to a container is dropped: new connections from any interface that is not the tunnel,
 * loopback or a container bridge, unless they asked for a public port. That closes what UFW cannot see:
 * Docker's DNAT for a port published on the tunnel address has no input-interface match, so without this
 * a neighbour on the public network who routes the tunnel address to the host reaches PostgreSQL.
 */
export function renderDockerUserRules(options: DockerUserOptions): string {
  check(options);
  const rule = (match: string, target: string, comment: string) =>
    [`-A ${DOCKER_USER_CHAIN}`, match, `-m comment --comment "${comment}" -j ${target}`]
      .filter((part) => part !== "")
      .join(" ");
  return [
    "*filter",
    `:${DOCKER_USER_CHAIN} - [0:0]`,
    rule("-m conntrack --ctstate RELATED,ESTABLISHED", "RETURN", "replies and established flows"),
    rule("-i lo", "RETURN", "loopback"),
    rule(`-i ${options.tunnelInterface}`, "RETURN", "the peer host over the tunnel"),
    ...CONTAINER_BRIDGES.map((bridge) => rule(`-i ${bridge}`, "RETURN", "containers' own traffic")),
    ...options.publicPorts.map(({ port, proto }) =>
      rule(
        `-p ${proto} -m conntrack --ctorigdstport ${port} --ctdir ORIGINAL`,
        "RETURN",
        `public ${port}/${proto}`,
      ),
    ),
    rule("", "DROP", "anything else to a container"),
    "COMMIT",
    "",
  ].join("\n");
}

/**
 * The script at {@link DOCKER_USER_APPLY_PATH}. It creates DOCKER-USER when Docker has not yet (at boot it
 * runs before dockerd, which keeps an existing DOCKER-USER and its rules), fills the program's chain, and
 * inserts the program's jump at the top of DOCKER-USER and DOCKER-USER's at the top of FORWARD when they
 * are missing (after something flushed FORWARD, a ufw with MANAGE_BUILTINS=yes, say, Docker's jump would
 * be gone until dockerd restarts). Present anywhere is enough: fail2ban inserts its ban chains above ours
 * (they only drop) and a restarted dockerd puts its isolation chain above DOCKER-USER, and a check for
 * "first" would add a copy on every run. IPv4 only: Docker publishes IPv6 ports through docker-proxy (INPUT, where UFW filters) unless
 * the daemon enables ip6tables, which the program does not.
 */
export function renderDockerUserApplyScript(options: DockerUserOptions): string {
  const chain = DOCKER_USER_CHAIN;
  return `#!/usr/bin/env bash
# New connections to Docker containers only from the tunnel (${options.tunnelInterface}), loopback, the containers'
# bridges${options.publicPorts.length === 0 ? "" : ` and the public ports ${options.publicPorts.map((p) => `${p.port}/${p.proto}`).join(", ")}`}.
# Rendered by the tapbot Pulumi program (infra/render/docker-user-rules.ts); run by the hardening, by
# ${DOCKER_USER_UNIT} before docker.service, and by ufw's after.init. Idempotent.
set -euo pipefail
iptables -w -n -L DOCKER-USER >/dev/null 2>&1 || iptables -w -N DOCKER-USER
iptables-restore -w --noflush <<'TAPBOT_RULES_END'
${renderDockerUserRules(options)}TAPBOT_RULES_END
iptables -w -C DOCKER-USER -j ${chain} 2>/dev/null || iptables -w -I DOCKER-USER 1 -j ${chain}
iptables -w -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -w -I FORWARD 1 -j DOCKER-USER
`;
}

/**
 * The unit that applies the rules at boot. Before=docker.service rather than after it: dockerd starts the
 * containers (restart policies, live-restore) as it comes up, so a unit ordered after it would leave every
 * published port open to the public interface for that moment; Docker keeps a DOCKER-USER chain it finds.
 * RequiredBy=docker.service: if the rules cannot be applied, dockerd does not start rather than start
 * containers unfiltered. Docker and UFW restarts do not remove the rules (the containers lane shows it), so
 * nothing re-runs the unit then; ufw's after.init re-applies them whenever ufw loads its own.
 */
export function renderDockerUserUnit(): string {
  return `[Unit]
Description=tapbot: new connections to containers only from the tunnel, loopback and the public ports (DOCKER-USER)
Before=docker.service
After=ufw.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${DOCKER_USER_APPLY_PATH}

[Install]
RequiredBy=docker.service
`;
}

/**
 * /etc/ufw/after.init: ufw runs it with \`start\` after loading its rules (at boot, \`ufw enable\`, \`ufw reload\`).
 * With Ubuntu's MANAGE_BUILTINS=no ufw leaves FORWARD and DOCKER-USER alone, but with =yes it flushes
 * FORWARD and Docker's jump with it: re-applying here puts the jump back. On \`stop\` the rules stay: a
 * stopped firewall must not open the containers.
 */
export function renderUfwAfterInit(): string {
  return `#!/bin/sh
# ufw's after.init, rendered by the tapbot Pulumi program: re-applies the DOCKER-USER rules after ufw loads its own.
set -e
case "$1" in
start)
    ${DOCKER_USER_APPLY_PATH}
    ;;
stop|status|flush-all)
    ;;
*)
    echo "'$1' not supported"
    echo "Usage: after.init {start|stop|flush-all|status}"
    ;;
esac
`;
}

/**
 * The hardening step: installs the apply script, the unit (enabled) and ufw's hook, then applies the rules
 * at once, by running the script itself: restarting a unit that docker.service requires would restart
 * dockerd too.
 */
export function renderDockerUserScript(options: DockerUserOptions): string {
  check(options);
  return `${scriptPrelude("DOCKER-USER: new connections to containers only from the tunnel, loopback, the containers' bridges and the public ports")}
${installFileLines({ path: DOCKER_USER_APPLY_PATH, mode: "0755", content: renderDockerUserApplyScript(options) })}${installFileLines(
  { path: `/etc/systemd/system/${DOCKER_USER_UNIT}`, mode: "0644", content: renderDockerUserUnit() },
  ["systemctl daemon-reload"],
)}${installFileLines({ path: UFW_AFTER_INIT_PATH, mode: "0750", content: renderUfwAfterInit() })}systemctl enable ${DOCKER_USER_UNIT}
${DOCKER_USER_APPLY_PATH}
`;
}
