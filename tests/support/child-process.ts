import { type ChildProcess, spawn } from "node:child_process";
import { onExitCleanup } from "./exit-cleanup.js";

/** Options for {@link startChild}. */
export interface StartChildOptions {
  /** Working directory of the child. */
  cwd?: string;
  /** Full environment of the child (not merged with this process's). @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /** Run as this user id (PostgreSQL refuses to run as root). */
  uid?: number;
  /** Run as this group id. */
  gid?: number;
  /** How many output lines to keep for {@link RunningChild.logTail}. @defaultValue 200 */
  keepLines?: number;
  /** Called with every output line, stdout and stderr alike (the demo and the e2e tests read log lines). */
  onLine?: (line: string) => void;
}

/** A child process whose output is kept in a ring of lines so that failures can show its log tail. */
export interface RunningChild {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  /** True once the child has exited. */
  hasExited(): boolean;
  /** The last lines the child wrote (stdout and stderr interleaved), joined with newlines. */
  logTail(lines?: number): string;
  /** Resolves with the first output line matching `pattern`; rejects on timeout or exit first. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /**
   * Sends `signal`, waits up to `timeoutMs` for the child to exit, then sends SIGKILL. Resolves once it has
   * exited; calling it again, or on a child that has already exited, is harmless.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

/** Spawns `command` with its output captured line by line; see {@link RunningChild}. */
export function startChild(
  command: string,
  args: readonly string[],
  opts: StartChildOptions = {},
): RunningChild {
  const keep = opts.keepLines ?? 200;
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    uid: opts.uid,
    gid: opts.gid,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const forget = onExitCleanup(() => child.kill("SIGKILL"));
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      forget();
      resolve(code ?? signal ?? "unknown");
    });
    child.once("error", (error) => {
      lines.push(`spawn ${command} failed: ${error.message}`);
      done = true;
      forget();
      resolve(`error: ${error.message}`);
    });
  });

  const push = (line: string): void => {
    lines.push(line);
    if (lines.length > keep) lines.shift();
    opts.onLine?.(line);
    for (const watcher of watchers) watcher(line);
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = "";
    stream?.setEncoding("utf8");
    stream?.on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const part of parts) push(part);
    });
    stream?.on("end", () => {
      if (partial !== "") push(partial);
      partial = "";
    });
  }

  const logTail = (n = 40): string => lines.slice(-n).join("\n");

  return {
    child,
    pid: child.pid ?? -1,
    exited,
    hasExited: () => done,
    logTail,
    waitForLine(pattern, timeoutMs) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const finish = (): void => {
          clearTimeout(timer);
          watchers.delete(watch);
        };
        const watch = (line: string): void => {
          if (!pattern.test(line)) return;
          finish();
          resolve(line);
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `${command} wrote no line matching ${pattern} within ${timeoutMs} ms; log tail:\n${logTail()}`,
            ),
          );
        }, timeoutMs);
        watchers.add(watch);
        void exited.then((how) => {
          if (!watchers.has(watch)) return;
          finish();
          reject(
            new Error(
              `${command} exited (${how}) before writing a line matching ${pattern}; log tail:\n${logTail()}`,
            ),
          );
        });
      });
    },
    async stop(signal = "SIGTERM", timeoutMs = 10_000) {
      if (done) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
