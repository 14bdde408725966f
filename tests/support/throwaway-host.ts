import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type RunningChild, startChild } from "./child-process.js";
import { onExitCleanup } from "./exit-cleanup.js";
import { makeTempDir, removeTempDir } from "./temp-dir.js";
import { waitUntil } from "./wait-until.js";

const exec = promisify(execFile);

/**
 * The third octet of the next host's 10.214.x.0/30 link: consecutive within this process (hosts started
 * together never share a link), from a random start so that two test processes rarely meet.
 */
let nextSubnet = randomBytes(1)[0] ?? 0;

/** What the throwaway host looks like from inside; each file stands in for the real one at its path. */
export interface ThrowawayHostOptions {
  /** /etc/os-release. */
  osRelease: string;
  /** /proc/meminfo (the machine's own would make the RAM row depend on whatever else runs here). */
  meminfo: string;
  /** Size of the tmpfs mounted on /var/lib/docker, as mount takes it ("12g"): what df reports there. */
  dockerDiskSize: string;
  /** /etc/docker/daemon.json; absent when undefined. */
  daemonJson?: string;
  /** The client's private key file (its `.pub` beside it) authorised for root; a fresh one when undefined. */
  clientKey?: string;
  /** Accounts besides root that the client key logs into, each with passwordless sudo or none. */
  users?: { name: string; sudo: boolean }[];
}

/**
 * A stand-in for one of the owner's servers: its own network namespace reached over a veth pair from this
 * one (so it has its own ports 22, 80, 443, 5432 … and a real `ss` sees only its listeners), a real sshd on
 * port 22 with its own ed25519 host key and the test's client key for root, and a private mount namespace
 * in which os-release, meminfo, daemon.json and ufw's files are temp copies and /var/lib/docker a sized
 * tmpfs. Commands over SSH are the real ones (ss, ufw, df, cat). Needs root.
 */
export class ThrowawayHost {
  private constructor(
    readonly address: string,
    /** This side's address on the link: where the host sees SSH connections from this process come from. */
    readonly clientAddress: string,
    /** The host's ed25519 key as `ssh-keyscan` prints it (`ssh-ed25519 AAAA…`): pin it. */
    readonly hostKey: string,
    /** The client's private key file, authorised for root. */
    readonly identityFile: string,
    private readonly netns: string,
    private readonly dir: string,
    private readonly sshd: RunningChild,
    private readonly cleanup: () => void,
  ) {}

  static async start(options: ThrowawayHostOptions): Promise<ThrowawayHost> {
    if (process.getuid?.() !== 0)
      throw new Error("a throwaway host needs root (network and mount namespaces, sshd)");
    const id = randomBytes(3).toString("hex");
    const netns = `tbh-${id}`;
    const octet = 1 + (nextSubnet++ % 250);
    const [outside, inside] = [`10.214.${octet}.1`, `10.214.${octet}.2`];
    const dir = await makeTempDir("host");
    await exec("ip", ["netns", "add", netns]);
    const cleanup = onExitCleanup(() => {
      execFileSync("ip", ["netns", "del", netns], { stdio: "ignore" });
    });
    await exec("ip", ["link", "add", `th${id}`, "type", "veth", "peer", "name", `tn${id}`, "netns", netns]);
    await exec("ip", ["addr", "add", `${outside}/30`, "dev", `th${id}`]);
    await exec("ip", ["link", "set", `th${id}`, "up"]);
    for (const args of [
      ["link", "set", "lo", "up"],
      ["addr", "add", `${inside}/30`, "dev", `tn${id}`],
      ["link", "set", `tn${id}`, "up"],
    ]) {
      await exec("ip", ["netns", "exec", netns, "ip", ...args]);
    }

    await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
    const clientKey = options.clientKey ?? join(dir, "client");
    if (options.clientKey === undefined)
      await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", clientKey]);
    await cp(`${clientKey}.pub`, join(dir, "authorized_keys"));
    const hostKey = (await readFile(join(dir, "host_key.pub"), "utf8")).split(" ").slice(0, 2).join(" ");
    await writeFile(
      join(dir, "sshd_config"),
      [
        "Port 22",
        `ListenAddress ${inside}`,
        `HostKey ${dir}/host_key`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PidFile none",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );

    await writeFile(join(dir, "os-release"), options.osRelease);
    // A fresh server's root has the distribution's short .bashrc; this machine's may set up tool managers,
    // which bash reads for every command sshd runs and which would cost seconds per command.
    await writeFile(join(dir, "bashrc"), "# root's .bashrc on a fresh server\n");
    await writeFile(join(dir, "meminfo"), options.meminfo);
    await mkdir(join(dir, "docker"));
    if (options.daemonJson !== undefined)
      await writeFile(join(dir, "docker", "daemon.json"), options.daemonJson);
    await cp("/etc/ufw", join(dir, "etc-ufw"), { recursive: true });
    await cp("/etc/default/ufw", join(dir, "default-ufw"));
    // Extra accounts: copies of passwd, group and shadow with them added, and a sudoers.d of their own.
    const users = options.users ?? [];
    await mkdir(join(dir, "sudoers.d"));
    // sshd reads an account's authorized_keys with that account's rights: the directory must be searchable.
    if (users.length > 0) await chmod(dir, 0o755);
    const account = {
      passwd: await readFile("/etc/passwd", "utf8"),
      group: await readFile("/etc/group", "utf8"),
      shadow: await readFile("/etc/shadow", "utf8"),
    };
    for (const [index, user] of users.entries()) {
      const id = 2101 + index;
      await mkdir(join(dir, `home-${user.name}`));
      account.passwd += `${user.name}:x:${id}:${id}::${dir}/home-${user.name}:/bin/sh\n`;
      account.group += `${user.name}:x:${id}:\n`;
      account.shadow += `${user.name}:*:19000:0:99999:7:::\n`;
      if (user.sudo)
        await writeFile(join(dir, "sudoers.d", user.name), `${user.name} ALL=(ALL) NOPASSWD: ALL\n`, {
          mode: 0o440,
        });
    }
    for (const [file, text] of Object.entries(account))
      await writeFile(join(dir, file), text, { mode: file === "shadow" ? 0o640 : 0o644 });
    await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const mounts = [
      `mount --bind ${dir}/os-release /etc/os-release`,
      `mount --bind ${dir}/meminfo /proc/meminfo`,
      "mkdir -p /etc/docker /var/lib/docker",
      `mount --bind ${dir}/docker /etc/docker`,
      `mount -t tmpfs -o size=${options.dockerDiskSize} tapbot-docker /var/lib/docker`,
      `mount --bind ${dir}/etc-ufw /etc/ufw`,
      `mount --bind ${dir}/default-ufw /etc/default/ufw`,
      `{ [ ! -e /root/.bashrc ] || mount --bind ${dir}/bashrc /root/.bashrc; }`,
      ...(users.length === 0
        ? []
        : [
            ...["passwd", "group", "shadow"].map((file) => `mount --bind ${dir}/${file} /etc/${file}`),
            `mkdir -p /etc/sudoers.d && mount --bind ${dir}/sudoers.d /etc/sudoers.d`,
          ]),
    ].join(" && ");
    // ip netns exec, unshare and sh each exec the next, so the child's pid ends up being sshd's.
    const sshd = startChild(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        `${mounts} && exec /usr/sbin/sshd -D -e -f ${dir}/sshd_config`,
      ],
      { keepLines: 5000 },
    );
    await waitUntil(
      async () => {
        const scan = await exec("ssh-keyscan", ["-t", "ed25519", inside]).catch(() => ({ stdout: "" }));
        return scan.stdout.includes("ssh-ed25519") ? true : undefined;
      },
      {
        timeoutMs: 15_000,
        describe: () => `sshd in ${netns} listening on ${inside}:22:\n${sshd.logTail(20)}`,
      },
    );
    return new ThrowawayHost(inside, outside, hostKey, clientKey, netns, dir, sshd, cleanup);
  }

  /** How many SSH connections sshd accepted (one "Accepted publickey" per authenticated connection). */
  acceptedConnections(): number {
    return (this.sshd.logTail(5000).match(/Accepted publickey/g) ?? []).length;
  }

  /**
   * Starts a process inside the host (its network and mount namespaces), e.g. an old service holding a
   * port; stop it with the returned child's stop().
   */
  startInside(command: string, args: string[]): RunningChild {
    return startChild("nsenter", ["-t", String(this.sshd.pid), "-n", "-m", command, ...args]);
  }

  /** Runs a command inside the host to completion (e.g. `ufw allow …` on its own copy of ufw's files). */
  async runInside(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
    return exec("nsenter", ["-t", String(this.sshd.pid), "-n", "-m", command, ...args]);
  }

  async stop(): Promise<void> {
    await this.sshd.stop("SIGTERM", 5_000);
    await exec("ip", ["netns", "del", this.netns]).catch(() => undefined);
    this.cleanup();
    await removeTempDir(this.dir);
  }
}
