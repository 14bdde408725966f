import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunningChild, startChild } from "./child-process.js";
import { findBinary } from "./find-binary.js";
import { freePort } from "./free-port.js";
import { makeTempDir, removeTempDir } from "./temp-dir.js";
import { waitUntil } from "./wait-until.js";

/** A throwaway Prometheus or Alertmanager (Debian's packages) on a loopback port; `stop()` removes its data. */
export interface MonitoringServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Its working directory: the config files and the data (removed by `stop()`). */
  readonly dir: string;
  readonly child: RunningChild;
  /** GET a JSON API path (`/api/v1/…`) and return its `data`; throws on a non-success answer. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
}

/** Which server: Debian names Alertmanager's binary `prometheus-alertmanager`. */
type Kind = "prometheus" | "alertmanager";

const BINARY: Record<Kind, string> = { prometheus: "prometheus", alertmanager: "prometheus-alertmanager" };

function flags(kind: Kind, dir: string, port: number): string[] {
  const listen = `--web.listen-address=127.0.0.1:${port}`;
  if (kind === "prometheus") {
    return [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      listen,
      "--log.level=warn",
    ];
  }
  // No cluster port: a lone Alertmanager would otherwise listen on 9094 on every address.
  return [
    `--config.file=${join(dir, "alertmanager.yml")}`,
    `--storage.path=${join(dir, "data")}`,
    listen,
    "--cluster.listen-address=",
    "--log.level=warn",
  ];
}

/**
 * Starts Prometheus or Alertmanager with the given files written into a fresh temp dir (`prometheus.yml` or
 * `alertmanager.yml` and whatever they reference by a path under `dir`; `files` receives the dir so configs
 * can name their rule files by absolute path), and waits for `/-/ready`. Throws with the server's log tail
 * when it does not come up.
 */
export async function startMonitoringServer(
  kind: Kind,
  files: (dir: string) => Record<string, string>,
): Promise<MonitoringServer> {
  const binary = await findBinary(
    BINARY[kind],
    ["/usr/bin"],
    `Install it (Debian: apt-get install ${kind === "prometheus" ? "prometheus" : "prometheus-alertmanager"}).`,
  );
  const dir = await makeTempDir(kind);
  for (const [name, content] of Object.entries(files(dir))) await writeFile(join(dir, name), content);
  const port = await freePort();
  const child = startChild(binary, flags(kind, dir, port), { cwd: dir, keepLines: 200 });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await child.stop("SIGTERM", 5_000);
    await removeTempDir(dir);
  };
  try {
    await waitUntil(
      async () => {
        const response = await fetch(`${url}/-/ready`).catch(() => undefined);
        return response?.ok ? true : undefined;
      },
      {
        timeoutMs: 20_000,
        describe: () => `${kind} on port ${port} did not become ready; log tail:\n${child.logTail()}`,
        abort: () => (child.hasExited() ? `${kind} exited during startup` : undefined),
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    port,
    dir,
    child,
    async api<T>(path: string): Promise<T> {
      const response = await fetch(`${url}${path}`);
      const body = (await response.json()) as { status: string; data: T; error?: string };
      if (!response.ok || body.status !== "success") {
        throw new Error(`${kind} ${path}: ${response.status} ${body.error ?? JSON.stringify(body)}`);
      }
      return body.data;
    },
    stop,
  };
}
