import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { strictSshOptions } from "../host-keys.js";

/** How preflight reaches a host: the program's own connection settings. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** The pinned host key (`ssh-ed25519 AAAA…`); any other key is refused before anything runs. */
  hostKey: string;
  /** A private key file (0600): the only identity offered (IdentitiesOnly). */
  identityFile: string;
}

/** The connection could not be made (refused, wrong host key, key not accepted); the message is ssh's own. */
export class SshConnectError extends Error {
  override name = "SshConnectError";
}

/** What a remote command left behind. */
export interface RemoteResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<RemoteResult> {
  return new Promise((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** ssh's own complaint (the last non-empty line), e.g. "Host key verification failed." */
function lastLine(text: string): string {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l !== "")
      .at(-1) ?? "no message"
  );
}

/**
 * One SSH connection to a host, multiplexed: a master (`ssh -M -N`) authenticates once, every command runs as
 * a channel over its socket, so a whole preflight opens one TCP connection and one authentication per host
 * (nothing for UFW's `limit` or fail2ban to count). It verifies the pinned host key with the same options
 * as the program's Docker provider, offers only the given identity, and never prompts.
 */
export class SshSession {
  private constructor(
    private readonly base: string[],
    private readonly destination: string,
    private readonly master: ChildProcess,
  ) {}

  /** Opens the master connection; rejects with ssh's own message when it cannot. */
  static async open(target: SshTarget, socketDir: string, connectTimeoutSeconds = 10): Promise<SshSession> {
    const socket = join(socketDir, `${target.host}-${target.port}.sock`);
    const base = [
      "-F",
      "/dev/null",
      "-i",
      target.identityFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `ConnectTimeout=${connectTimeoutSeconds}`,
      "-o",
      "ServerAliveInterval=10",
      "-o",
      "LogLevel=ERROR",
      "-p",
      String(target.port),
      ...strictSshOptions(target.host, target.port, target.hostKey),
      "-o",
      `ControlPath=${socket}`,
    ];
    const destination = `${target.user}@${target.host}`;
    const master = spawn(
      "ssh",
      [...base, "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N", destination],
      {
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    let stderr = "";
    master.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    let spawnError: string | undefined;
    const exited = new Promise<void>((resolve) => {
      master.once("exit", () => resolve());
      master.once("error", (error: NodeJS.ErrnoException) => {
        spawnError = `cannot run ssh (${error.code ?? error.message}): install OpenSSH's client`;
        resolve();
      });
    });
    const session = new SshSession(base, destination, master);
    const deadline = Date.now() + (connectTimeoutSeconds + 5) * 1000;
    for (;;) {
      if (spawnError !== undefined) throw new SshConnectError(spawnError);
      if (master.exitCode !== null || master.signalCode !== null) throw new SshConnectError(lastLine(stderr));
      const check = await collect(
        spawn("ssh", [...base, "-O", "check", destination], { stdio: ["ignore", "pipe", "pipe"] }),
      );
      if (check.code === 0) return session;
      if (Date.now() > deadline) {
        master.kill("SIGTERM");
        throw new SshConnectError(
          `no connection within ${connectTimeoutSeconds + 5} s (${lastLine(stderr)})`,
        );
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
    }
  }

  /**
   * Runs a command over the master's connection (a shell command line, run by the user's login shell).
   * ControlMaster=no: a channel of the open connection, never a connection of its own.
   */
  run(command: string): Promise<RemoteResult> {
    return collect(
      spawn("ssh", [...this.base, "-o", "ControlMaster=no", this.destination, command], {
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
  }

  /** Ends the master (and with it the connection). */
  async close(): Promise<void> {
    if (this.master.exitCode !== null || this.master.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.master.once("exit", () => resolve()));
    await collect(
      spawn("ssh", [...this.base, "-O", "exit", this.destination], { stdio: ["ignore", "pipe", "pipe"] }),
    );
    const timer = setTimeout(() => this.master.kill("SIGTERM"), 3000);
    await exited;
    clearTimeout(timer);
  }
}
