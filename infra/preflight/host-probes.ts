import { shellQuote } from "../render/shell-script.js";
import { DAEMON_JSON_ABSENT } from "./docker-daemon.js";
import { QUEUE_REDIS_PROBE } from "./queue-redis.js";
import type { RemoteResult } from "./ssh-session.js";

/**
 * The read-only commands preflight runs on a host. Nothing here writes: `ufw show added` lists rules without
 * touching the firewall, `ss` and `docker ps` only read. `root` marks those that need root to see everything
 * (other users' processes, the firewall); they run under `sudo -n` when the SSH user is not root.
 */
export const HOST_PROBES = {
  osRelease: { label: "cat /etc/os-release", command: "cat /etc/os-release", root: false },
  meminfo: { label: "cat /proc/meminfo", command: "cat /proc/meminfo", root: false },
  disk: {
    label: "df /var/lib/docker",
    command: "df -P -B1 /var/lib/docker 2>/dev/null || df -P -B1 /",
    root: false,
  },
  listeners: { label: "ss -ltunp", command: "ss -H -l -t -u -n -p", root: true },
  docker: {
    label: "docker ps",
    command: "if command -v docker >/dev/null; then docker ps --format '{{.Names}}|{{.Ports}}'; fi",
    root: true,
  },
  ufw: {
    label: "ufw status; ufw show added",
    command:
      "if command -v ufw >/dev/null; then ufw status | head -n 1; ufw show added; else echo 'ufw: not installed'; fi",
    root: true,
  },
  daemonJson: {
    label: "cat /etc/docker/daemon.json",
    command: `if [ -e /etc/docker/daemon.json ]; then cat /etc/docker/daemon.json; else echo '${DAEMON_JSON_ABSENT}'; fi`,
    root: false,
  },
  // The address this connection comes from as the host sees it (after any NAT): the one UFW and fail2ban
  // will judge during `pulumi up`. sshd sets SSH_CONNECTION for every session: "client port server port".
  sshClient: {
    label: "echo $SSH_CONNECTION",
    command: 'echo "$SSH_CONNECTION"',
    root: false,
  },
  queueRedis: {
    label: "redis-cli CONFIG GET appendonly (tapbot-redis)",
    command: QUEUE_REDIS_PROBE,
    root: true,
  },
} as const;

/** Name of one probe. */
export type ProbeName = keyof typeof HOST_PROBES;

/**
 * Each probe's output, or why it failed; `sudo` marks a failure of `sudo -n` itself (the SSH user has no
 * passwordless sudo), which the deploy would meet too.
 */
export type HostFacts = Record<
  ProbeName,
  { ok: true; output: string } | { ok: false; error: string; sudo: boolean }
>;

/** Runs every probe over one session (in parallel channels of the same connection). */
export async function probeHost(
  run: (command: string) => Promise<RemoteResult>,
  user: string,
): Promise<HostFacts> {
  const names = Object.keys(HOST_PROBES) as ProbeName[];
  const results = await Promise.all(
    names.map(async (name) => {
      const { label, command, root } = HOST_PROBES[name];
      const viaSudo = root && user !== "root";
      const result = await run(viaSudo ? `sudo -n sh -c ${shellQuote(command)}` : command);
      const error = result.stderr.trim().split("\n").at(-1) ?? "";
      if (result.code === 0) return [name, { ok: true as const, output: result.stdout }] as const;
      return [
        name,
        {
          ok: false as const,
          error: `\`${viaSudo ? `sudo ${label}` : label}\` failed (exit ${result.code})${error === "" ? "" : `: ${error}`}`,
          sudo: viaSudo && /^sudo: /.test(error),
        },
      ] as const;
    }),
  );
  return Object.fromEntries(results) as HostFacts;
}
