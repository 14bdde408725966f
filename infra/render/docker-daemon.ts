import { shellQuote } from "./shell-script.js";

/** Log rotation of every container's json-file log. */
export interface DockerDaemonOptions {
  /** Largest size of one log file, Docker syntax ("10m"). */
  logMaxSize: string;
  /** Log files kept per container. */
  logMaxFile: number;
  /**
   * The host is a Swarm node (more than two hosts): live-restore off, since dockerd refuses Swarm mode with it
   * ("--live-restore daemon configuration is incompatible with swarm mode"). @defaultValue false
   */
  swarm?: boolean;
}

/** Where dockerd reads its settings. */
export const DAEMON_JSON_PATH = "/etc/docker/daemon.json";

/**
 * The program's daemon.json settings: json-file logs capped at max-size × max-file per container, so logs
 * cannot fill a 10 GB disk, and live-restore, so restarting dockerd (an upgrade, a changed daemon.json) keeps
 * containers running, except on a Swarm node, where dockerd refuses it (Swarm restarts the tasks instead). These keys replace the owner's; every other key of the owner's is kept
 * ({@link mergeDaemonJson}).
 */
export function dockerDaemonSettings(options: DockerDaemonOptions): Record<string, unknown> {
  if (!/^[1-9][0-9]*[kmg]$/.test(options.logMaxSize)) {
    throw new Error(`docker logMaxSize must look like 10m; got ${options.logMaxSize}`);
  }
  if (!Number.isInteger(options.logMaxFile) || options.logMaxFile < 1 || options.logMaxFile > 20) {
    throw new Error(`docker logMaxFile must be an integer 1..20; got ${options.logMaxFile}`);
  }
  return {
    "log-driver": "json-file",
    "log-opts": { "max-size": options.logMaxSize, "max-file": String(options.logMaxFile) },
    "live-restore": options.swarm !== true,
  };
}

/**
 * daemon.json after the deploy, given the owner's parsed file (undefined when there is none): the owner's
 * keys (data-root, registries, DNS, …) kept, the program's top-level keys set. `log-opts` is replaced whole,
 * not merged: its options belong to the log driver, and another driver's options would stop dockerd. The
 * host does the same merge in python3 ({@link renderDaemonJsonMergeLines}); preflight reports with this one.
 */
export function mergeDaemonJson(
  current: Record<string, unknown> | undefined,
  options: DockerDaemonOptions,
): Record<string, unknown> {
  return { ...(current ?? {}), ...dockerDaemonSettings(options) };
}

/**
 * Shell lines that merge the program's settings into daemon.json on the host (python3: ufw and fail2ban
 * need it, so it is there once the packages are), back the old file up beside it when the merge changes it
 * (`daemon.json.tapbot-backup-<UTC time>`), and run `onChange` then. A file that is not a JSON object stops
 * the script before anything is written, naming the file: dockerd would not start on it either.
 */
export function renderDaemonJsonMergeLines(
  options: DockerDaemonOptions,
  onChange: string[],
  path: string = DAEMON_JSON_PATH,
): string {
  const settings = JSON.stringify(dockerDaemonSettings(options));
  const merge = `import json, sys
path, ours = sys.argv[1], json.loads(sys.argv[2])
try:
    with open(path, encoding="utf-8") as f:
        current = json.load(f)
except FileNotFoundError:
    current = {}
except ValueError as e:
    sys.exit(f"{path} is not valid JSON ({e}): fix or remove it by hand, then deploy again")
if not isinstance(current, dict):
    sys.exit(f"{path} is not a JSON object: fix or remove it by hand, then deploy again")
current.update(ours)
print(json.dumps(current, indent=2))`;
  return `daemon_json=${shellQuote(path)}
merged_daemon_json="$(python3 -c ${shellQuote(merge)} "$daemon_json" ${shellQuote(settings)})"
if [ -f "$daemon_json" ] && ! printf '%s\\n' "$merged_daemon_json" | cmp -s - "$daemon_json"; then
  cp -p "$daemon_json" "$daemon_json.tapbot-backup-$(date -u +%Y%m%dT%H%M%SZ)"
fi
if printf '%s\\n' "$merged_daemon_json" | install_file "$daemon_json" 0644; then
${onChange.map((c) => `  ${c}`).join("\n")}
fi
`;
}
