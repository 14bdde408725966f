import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTool, type ToolResult } from "../../infra/helpers/run-tool.js";
import { type RunningChild, startChild } from "../../support/child-process.js";
import { onExitCleanup } from "../../support/exit-cleanup.js";
import { findBinary } from "../../support/find-binary.js";
import { waitUntil } from "../../support/wait-until.js";

/** Options of {@link startDockerd}. */
export interface DockerdOptions {
  /**
   * The network namespace (`ip netns` name) the engine runs in: a test's stand-in for a host. Without it the
   * engine gets a namespace of its own, deleted at stop. Either way docker0, the bridges and Docker's
   * iptables chains live in that namespace only, never in the machine's.
   */
  netns?: string;
  /**
   * daemon.json settings beyond the harness's own (the program's `dockerDaemonSettings`, say: log rotation,
   * live-restore). They cannot override where the engine keeps its files or listens.
   */
  settings?: Record<string, unknown>;
  /** docker0's address (`bip`). @defaultValue "10.213.0.1/24" */
  bridgeCidr?: string;
}

/** A running dockerd of the harness; see {@link startDockerd}. */
export interface Dockerd {
  /** The namespace the engine runs in. */
  readonly netns: string;
  /** `unix://…` address of its API socket (DOCKER_HOST). */
  readonly host: string;
  /** The directory holding its data-root, exec-root, pidfile, socket and daemon.json. */
  readonly dir: string;
  /** The cgroup (under each v1 controller) that holds its containers' cgroups: `/sys/fs/cgroup/memory/<this>/<id>`. */
  readonly cgroupParent: string;
  /** Runs Debian's docker client against this engine; never throws on a non-zero exit. */
  docker(args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<ToolResult>;
  /** Like {@link Dockerd.docker}, but throws with the client's output (and the engine's log tail) on failure. */
  mustDocker(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** Stops dockerd (SIGTERM, as systemd does) and starts it again on the same data; live-restore applies. */
  restart(): Promise<void>;
  /** The engine's last log lines, for failure messages. */
  logTail(lines?: number): string;
  /**
   * Removes every container, stops dockerd by its PID, kills whatever of it is left (containers and shims
   * outlive dockerd under live-restore), removes its cgroups and files, and deletes its own namespace.
   */
  stop(): Promise<void>;
}

/** Why the engine could not run: the lane prints it in one line and is skipped. */
export class DockerdUnavailableError extends Error {
  override name = "DockerdUnavailableError";
}

const DEFAULT_BRIDGE = "10.213.0.1/24";
/** Networks created on the engine (`docker network create`, br-…) take /24s from here. */
const ADDRESS_POOL = { base: "10.214.0.0/16", size: 24 };

/** Blocks this thread for `ms` (exit clean-ups are synchronous, and processes need a moment to die). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Cgroup directories of every controller for `parent` (cgroup v1: one tree per controller). */
function cgroupDirs(parent: string): string[] {
  const root = "/sys/fs/cgroup";
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((controller) => join(root, controller, parent))
    .filter((dir) => existsSync(dir));
}

/** Every PID in the cgroup tree `dir` (its own cgroup.procs and its children's). */
function pidsInCgroup(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string): void => {
    try {
      for (const line of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n")) {
        if (line !== "") pids.push(Number(line));
      }
      for (const entry of readdirSync(d, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(d, entry.name));
      }
    } catch {
      // The cgroup went away while we read it: nothing left in it.
    }
  };
  walk(dir);
  return pids;
}

/** PIDs whose command line mentions `dir`: containerd, its shims and docker-proxy all name the exec-root. */
function pidsMentioning(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) pids.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Mount points under `dir` (overlay2's merged dirs, the netns handles in exec-root), deepest first. */
function mountsUnder(dir: string): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .map((field) =>
      field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    )
    .filter((point) => point.startsWith(`${dir}/`));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Removes a cgroup tree bottom-up; a cgroup still holding a dying process is retried by the caller. */
function removeCgroupTree(dir: string): boolean {
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && !removeCgroupTree(join(dir, entry.name))) return false;
    }
    rmdirSync(dir);
    return true;
  } catch {
    return !existsSync(dir);
  }
}

/**
 * What is left of an engine after dockerd itself has gone (or to make it go): its containers (found by the
 * engine's own cgroup parent), containerd, the shims and docker-proxy (found by its directory on their
 * command line) get SIGKILL by PID; then its cgroups, its mounts, its files and, when it owns one, its
 * namespace are removed. Synchronous, so it also runs from the exit and signal handlers.
 */
function sweep(state: { pid: number; dir: string; cgroupParent: string; ownNetns?: string }): void {
  if (state.pid > 0) killQuietly(state.pid);
  for (let attempt = 0; attempt < 40; attempt++) {
    const pids = [
      ...cgroupDirs(state.cgroupParent).flatMap(pidsInCgroup),
      ...pidsMentioning(state.dir),
    ].filter((pid) => pid !== process.pid);
    for (const pid of pids) killQuietly(pid);
    const removed = cgroupDirs(state.cgroupParent).map(removeCgroupTree);
    if (pids.length === 0 && removed.every(Boolean)) break;
    sleepSync(50);
  }
  // Lazily: a mount still busy for a moment must not keep the directory from going.
  for (const point of mountsUnder(state.dir)) spawnSync("umount", ["-l", point]);
  rmSync(state.dir, { recursive: true, force: true });
  if (state.ownNetns !== undefined) spawnSync("ip", ["netns", "del", state.ownNetns]);
}

/** Resolves true when the engine answers GET /_ping on its socket. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once("error", () => resolve(false));
    req.once("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** The data-root tmpfs's ceiling: the lane's images (a Debian base, Node, the app's build) fit in it with room. */
const DATA_ROOT_TMPFS = "8g";

/**
 * Starts Debian's dockerd by hand (no systemd) inside a network namespace, with everything it writes in a
 * fresh temp dir: data-root, exec-root, pidfile, daemon.json and its API socket. `iptables` is on, as on the
 * hosts, but its rules, docker0 and bridges are the namespace's, so the machine's firewall (and the netns
 * UFW tests of the main suite) never sees them; its mounts (overlay2, netns handles) are all under the temp
 * dir and unmounted at the end. Containers go under a cgroup parent of their own, which is how they are
 * found and killed when the test process dies without stopping the engine (SIGTERM, SIGHUP, SIGINT, a
 * crash), since under live-restore they outlive dockerd by design.
 * Throws {@link DockerdUnavailableError} naming the reason when the engine cannot start here.
 */
export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    throw new DockerdUnavailableError("dockerd needs root (namespaces, iptables, cgroups)");
  }
  let dockerd: string;
  let client: string;
  try {
    dockerd = await findBinary("dockerd", ["/usr/sbin", "/usr/bin"], "apt-get install docker.io");
    // Debian's client first: the static one some machines put on PATH has no BuildKit (buildx).
    client = await findBinary("docker", ["/usr/bin"], "apt-get install docker.io");
  } catch (error) {
    throw new DockerdUnavailableError((error as Error).message);
  }
  const id = randomBytes(3).toString("hex");
  let ownNetns: string | undefined;
  const netns = opts.netns ?? `tbd-${id}`;
  if (opts.netns === undefined) {
    const add = await runTool("ip", ["netns", "add", netns]);
    if (add.code !== 0) {
      throw new DockerdUnavailableError(`cannot create a network namespace: ${add.stderr.trim()}`);
    }
    ownNetns = netns;
    await runTool("ip", ["-n", netns, "link", "set", "lo", "up"]);
  }
  const dir = await mkdtemp(join(tmpdir(), "tapbot-dockerd-"));
  const state = { pid: -1, dir, cgroupParent: `tapbot-dockerd-${id}`, ownNetns };
  const forget = onExitCleanup(() => sweep(state));
  // The data-root on a tmpfs of its own: an image build leaves tens of thousands of small files there, which
  // took over a minute to delete from disk at the end; a tmpfs goes with its unmount. On disk where no tmpfs
  // can be mounted (the engine works the same, only its removal is slower).
  await mkdir(join(dir, "data"));
  await runTool("mount", [
    "-t",
    "tmpfs",
    "-o",
    `size=${DATA_ROOT_TMPFS},mode=0711`,
    "tapbot-dockerd",
    join(dir, "data"),
  ]);
  const socket = join(dir, "docker.sock");
  const host = `unix://${socket}`;
  await mkdir(join(dir, "client"));
  await writeFile(
    join(dir, "daemon.json"),
    JSON.stringify(
      {
        ...opts.settings,
        "data-root": join(dir, "data"),
        "exec-root": join(dir, "exec"),
        pidfile: join(dir, "docker.pid"),
        hosts: [host],
        bip: opts.bridgeCidr ?? DEFAULT_BRIDGE,
        "default-address-pools": [ADDRESS_POOL],
        iptables: true,
        "cgroup-parent": `/${state.cgroupParent}`,
      },
      null,
      2,
    ),
  );

  let child: RunningChild | undefined;
  const launch = async (): Promise<void> => {
    // nsenter execs dockerd in place: the child's PID is dockerd's. It stays in the machine's mount
    // namespace, as on a host: a restarted dockerd must find the mounts its live-restored containers use.
    const started = startChild(
      "nsenter",
      [`--net=/run/netns/${netns}`, "--", dockerd, "--config-file", join(dir, "daemon.json")],
      { keepLines: 400 },
    );
    child = started;
    state.pid = started.pid;
    try {
      await waitUntil(async () => ((await ping(socket)) ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 100,
        describe: () => `dockerd did not answer on ${socket}; its log:\n${started.logTail(15)}`,
        abort: () => (started.hasExited() ? "dockerd exited while starting" : undefined),
      });
    } catch (error) {
      await started.stop("SIGKILL");
      throw new DockerdUnavailableError((error as Error).message);
    }
  };

  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, "client"), DOCKER_BUILDKIT: "1" };
  const docker = (args: string[], o: { timeoutMs?: number; input?: string } = {}) =>
    runTool(client, args, { env, timeoutMs: o.timeoutMs ?? 60_000, input: o.input });
  const logTail = (lines = 30) => child?.logTail(lines) ?? "";
  const stopDaemon = async (): Promise<void> => {
    await child?.stop("SIGTERM", 20_000);
  };

  try {
    await launch();
  } catch (error) {
    sweep(state);
    forget();
    throw error;
  }

  return {
    netns,
    host,
    dir,
    cgroupParent: state.cgroupParent,
    docker,
    async mustDocker(args, o) {
      const result = await docker(args, o);
      if (result.code !== 0) {
        throw new Error(
          `docker ${args.join(" ")} failed (${result.code}):\n${result.stdout}${result.stderr}\ndockerd's log:\n${logTail(15)}`,
        );
      }
      return result.stdout;
    },
    async restart() {
      await stopDaemon();
      await launch();
    },
    logTail,
    async stop() {
      if (child !== undefined && !child.hasExited()) {
        const ids = (await docker(["ps", "-aq"])).stdout.split("\n").filter((line) => line !== "");
        if (ids.length > 0) await docker(["rm", "-f", ...ids]);
        await stopDaemon();
      }
      sweep(state);
      forget();
    },
  };
}
