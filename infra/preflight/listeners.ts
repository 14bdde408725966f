import type { DeployPort } from "./deploy-ports.js";
import { OLD_SERVICE_PORTS } from "./deploy-ports.js";
import { type PreflightRow, row } from "./row.js";

/** One listening socket as `ss -H -l -t -u -n -p` prints it. */
export interface Listener {
  proto: "tcp" | "udp";
  ip: string;
  port: number;
  /** Process names with pids, e.g. `nginx (pid 812)`; empty when ss could not see them. */
  processes: string[];
}

/** Parses `ss -H -l -t -u -n -p` (Netid State Recv-Q Send-Q Local Peer Process). */
export function parseListeners(text: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const [netid, , , , local] = fields;
    if ((netid !== "tcp" && netid !== "udp") || local === undefined) continue;
    const colon = local.lastIndexOf(":");
    const port = Number(local.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port)) continue;
    const ip = local
      .slice(0, colon)
      .replace(/^\[|\]$/g, "")
      .replace(/%.*$/, "");
    const processes = [...line.matchAll(/\("([^"]+)",pid=([0-9]+)/g)].map((m) => `${m[1]} (pid ${m[2]})`);
    listeners.push({ proto: netid, ip, port, processes: [...new Set(processes)] });
  }
  return listeners;
}

const WILDCARDS = new Set(["0.0.0.0", "*", "::", ""]);

/** Two binds of the same port collide when either is on every address or both are on the same one. */
function collides(a: string, b: string): boolean {
  return WILDCARDS.has(a) || WILDCARDS.has(b) || a === b;
}

/**
 * Published ports of the running containers, "443/tcp" → container name. The program's containers are all
 * named `tapbot-…`: a port one of them holds is the program's own (a re-run), not something in the way.
 */
export type DockerPorts = Map<string, string>;

/**
 * `docker ps --format '{{.Names}}|{{.Ports}}'` as "port/proto" → container name, so a port held by
 * docker-proxy names the container that publishes it.
 */
export function parseDockerPorts(text: string): DockerPorts {
  const ports: DockerPorts = new Map();
  for (const line of text.split("\n")) {
    const [name, published = ""] = line.split("|");
    if (name === undefined || name.trim() === "") continue;
    for (const match of published.matchAll(/:([0-9]+)->[0-9]+\/(tcp|udp)/g))
      ports.set(`${match[1]}/${match[2]}`, name.trim());
  }
  return ports;
}

function holder(listener: Listener, docker: DockerPorts): string {
  const container = docker.get(`${listener.port}/${listener.proto}`);
  const names =
    listener.processes.length > 0 ? listener.processes.join(", ") : "a process ss cannot name (run as root)";
  return container === undefined ? names : `container ${container} (${names})`;
}

/**
 * The ports rows of a host: each port the deploy binds that something else already holds blocks (that
 * container would not start), with who holds it; a PostgreSQL, Redis or web server listening elsewhere warns
 * (an old service outside the plan's RAM). A port held by the program's own container (`tapbot-…`, a
 * re-run) is fine. One ok row when nothing is in the way.
 */
export function portRows(
  host: string,
  ssOutput: string,
  wanted: readonly DeployPort[],
  docker: DockerPorts,
): PreflightRow[] {
  const listeners = parseListeners(ssOutput);
  const rows: PreflightRow[] = [];
  const blocked = new Set<Listener>();
  for (const port of wanted) {
    for (const l of listeners) {
      if (l.proto !== port.proto || l.port !== port.port || !collides(l.ip, port.ip)) continue;
      blocked.add(l);
      if (docker.get(`${l.port}/${l.proto}`)?.startsWith("tapbot-") === true) continue;
      rows.push(
        row(
          "ports",
          host,
          "block",
          `${l.port}/${l.proto} on ${l.ip || "*"} is held by ${holder(l, docker)}; the deploy binds it for ${port.what}`,
          `stop and disable what holds it (systemctl disable --now <unit>, or docker stop <container>) after moving anything it serves`,
        ),
      );
    }
  }
  for (const l of listeners) {
    const service = OLD_SERVICE_PORTS[l.port];
    if (service === undefined || l.proto !== "tcp" || blocked.has(l)) continue;
    if (docker.get(`${l.port}/${l.proto}`)?.startsWith("tapbot-") === true) continue;
    rows.push(
      row(
        "ports",
        host,
        "warn",
        `${service} listens on ${l.ip || "*"}:${l.port}: ${holder(l, docker)}; the plan does not count its RAM`,
        "if it is the old bot's, move its data, then stop and disable it",
      ),
    );
  }
  if (rows.length === 0) {
    rows.push(
      row(
        "ports",
        host,
        "ok",
        `none of the ${wanted.length} ports the deploy binds is taken (${[...new Set(wanted.map((p) => p.port))].slice(0, 6).join(", ")}${wanted.length > 6 ? ", …" : ""}); no old PostgreSQL, Redis or web server`,
      ),
    );
  }
  return rows;
}
