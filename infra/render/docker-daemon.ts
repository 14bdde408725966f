import type { HostFile } from "./shell-script.js";

/** Log rotation of every container's json-file log. */
export interface DockerDaemonOptions {
  /** Largest size of one log file, Docker syntax ("10m"). */
  logMaxSize: string;
  /** Log files kept per container. */
  logMaxFile: number;
}

/**
 * daemon.json: json-file logs capped at max-size × max-file per container, so logs cannot fill a 10 GB disk,
 * and live-restore, so restarting dockerd (an upgrade, a changed daemon.json) keeps containers running.
 */
export function renderDockerDaemonJson(options: DockerDaemonOptions): HostFile {
  if (!/^[1-9][0-9]*[kmg]$/.test(options.logMaxSize)) {
    throw new Error(`docker logMaxSize must look like 10m; got ${options.logMaxSize}`);
  }
  if (!Number.isInteger(options.logMaxFile) || options.logMaxFile < 1 || options.logMaxFile > 20) {
    throw new Error(`docker logMaxFile must be an integer 1..20; got ${options.logMaxFile}`);
  }
  const config = {
    "log-driver": "json-file",
    "log-opts": { "max-size": options.logMaxSize, "max-file": String(options.logMaxFile) },
    "live-restore": true,
  };
  return { path: "/etc/docker/daemon.json", mode: "0644", content: `${JSON.stringify(config, null, 2)}\n` };
}
