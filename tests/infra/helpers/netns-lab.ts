import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type RunningChild, startChild } from "../../support/child-process.js";
import { onExitCleanup } from "../../support/exit-cleanup.js";
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";
import { requireRoot, runTool, type ToolResult } from "./run-tool.js";

/** One reachability check from the client namespace. */
export interface Probe {
  proto: "tcp" | "udp";
  /** Source address (one of the client's addresses). */
  from: string;
  host: string;
  port: number;
}

/** Addresses of the lab; the server plays one host, the client the other host and a stranger. */
export interface LabAddresses {
  serverPublic: string;
  peerPublic: string;
  stranger: string;
  serverTunnel: string;
  peerTunnel: string;
}

const LISTENER = `
const net = require("node:net"), dgram = require("node:dgram");
const [tcp, udp] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2])];
let pending = tcp.length + udp.length;
const ready = () => { if (--pending === 0) console.log("ready"); };
if (pending === 0) console.log("ready");
// A client that resets right after connecting must not crash the listener (ECONNRESET on the socket).
for (const port of tcp) net.createServer((s) => { s.on("error", () => {}); s.end("hi\\n"); }).listen(port, "0.0.0.0", ready);
for (const port of udp) {
  const s = dgram.createSocket("udp4");
  s.on("error", () => {});
  s.on("message", (m, r) => s.send(m, r.port, r.address));
  s.bind(port, "0.0.0.0", ready);
}`;

const PROBER = `
const net = require("node:net"), dgram = require("node:dgram");
const [probes, sequential] = [JSON.parse(process.argv[1]), process.argv[2] === "sequential"];
const one = (p) => new Promise((resolve) => {
  if (p.proto === "tcp") {
    const s = net.connect({ host: p.host, port: p.port, localAddress: p.from, timeout: 1200 });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("timeout", () => { s.destroy(); resolve(false); });
    s.once("error", () => resolve(false));
  } else {
    const s = dgram.createSocket("udp4");
    const t = setTimeout(() => { s.close(); resolve(false); }, 1200);
    s.on("message", () => { clearTimeout(t); s.close(); resolve(true); });
    s.bind(0, p.from, () => s.send("ping", p.port, p.host));
  }
});
(async () => {
  const results = [];
  if (sequential) for (const p of probes) results.push(await one(p));
  else results.push(...(await Promise.all(probes.map(one))));
  console.log(JSON.stringify(results));
})();`;

async function must(command: string, args: string[]): Promise<ToolResult> {
  const result = await runTool(command, args);
  if (result.code !== 0)
    throw new Error(`${command} ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  return result;
}

/**
 * Two network namespaces joined by two veth pairs: a "public" link (server ↔ peer and a stranger address)
 * and a "tunnel" link whose server end is named wg0, standing in for WireGuard. UFW runs inside the server
 * namespace with /etc/ufw, /lib/ufw and /etc/default/ufw bind-mounted from temp copies, so the machine's
 * own firewall and files are never touched. Needs root (namespaces, iptables).
 */
export class NetnsLab {
  private readonly id = randomBytes(3).toString("hex");
  readonly server = `tbs-${this.id}`;
  readonly client = `tbc-${this.id}`;
  private dir = "";
  private listener: RunningChild | undefined;
  private forgetNamespaces: (() => void) | undefined;

  constructor(readonly addresses: LabAddresses) {}

  async start(tcpPorts: number[], udpPorts: number[]): Promise<void> {
    requireRoot("network namespaces, veth links and iptables inside them");
    const probe = await runTool("ip", ["netns", "add", this.server]);
    if (probe.code !== 0) {
      throw new Error(
        `cannot create a network namespace (ip netns add failed: ${probe.stderr.trim()}); this test needs CAP_SYS_ADMIN and CAP_NET_ADMIN`,
      );
    }
    // A killed test must not leave the namespaces (and whatever runs in them) behind.
    this.forgetNamespaces = onExitCleanup(() => {
      for (const ns of [this.server, this.client]) spawnSync("ip", ["netns", "del", ns]);
    });
    await must("ip", ["netns", "add", this.client]);
    const a = this.addresses;
    const s = ["netns", "exec", this.server];
    const c = ["netns", "exec", this.client];
    // The public link (vs ↔ vc) and the tunnel link (ts ↔ tc), each a veth pair across the two namespaces.
    for (const link of ["v", "t"]) {
      await must("ip", [
        "link",
        "add",
        `${link}s${this.id}`,
        "netns",
        this.server,
        "type",
        "veth",
        "peer",
        "name",
        `${link}c${this.id}`,
        "netns",
        this.client,
      ]);
    }
    await must("ip", [...s, "ip", "link", "set", `ts${this.id}`, "name", "wg0"]);
    for (const [ns, commands] of [
      [
        s,
        [
          ["link", "set", "lo", "up"],
          ["addr", "add", `${a.serverPublic}/24`, "dev", `vs${this.id}`],
          ["link", "set", `vs${this.id}`, "up"],
          ["addr", "add", `${a.serverTunnel}/24`, "dev", "wg0"],
          ["link", "set", "wg0", "up"],
        ],
      ],
      [
        c,
        [
          ["link", "set", "lo", "up"],
          ["addr", "add", `${a.peerPublic}/24`, "dev", `vc${this.id}`],
          ["addr", "add", `${a.stranger}/24`, "dev", `vc${this.id}`],
          ["link", "set", `vc${this.id}`, "up"],
          ["addr", "add", `${a.peerTunnel}/24`, "dev", `tc${this.id}`],
          ["link", "set", `tc${this.id}`, "up"],
        ],
      ],
    ] as const) {
      for (const command of commands) await must("ip", [...ns, "ip", ...command]);
    }
    this.dir = await makeTempDir("ufw");
    await cp("/etc/ufw", join(this.dir, "etc-ufw"), { recursive: true });
    await cp("/lib/ufw", join(this.dir, "lib-ufw"), { recursive: true });
    await cp("/etc/default/ufw", join(this.dir, "default-ufw"));
    await this.startListener(tcpPorts, udpPorts);
  }

  private async startListener(tcpPorts: number[], udpPorts: number[]): Promise<void> {
    this.listener = startChild("ip", [
      "netns",
      "exec",
      this.server,
      process.execPath,
      "-e",
      LISTENER,
      JSON.stringify(tcpPorts),
      JSON.stringify(udpPorts),
    ]);
    await this.listener.waitForLine(/^ready$/, 10_000);
  }

  /**
   * Runs a rendered script in the server namespace, with ufw's files redirected to the temp copies and each
   * of `binds` (a directory the lab made with {@link NetnsLab.hostDir}) mounted over its target directory.
   */
  async runInServer(script: string, binds: { dir: string; target: string }[] = []): Promise<ToolResult> {
    const file = join(this.dir, "script.sh");
    await writeFile(file, script, { mode: 0o755 });
    const mounts = [
      `mount --bind ${this.dir}/etc-ufw /etc/ufw`,
      `mount --bind ${this.dir}/lib-ufw /lib/ufw`,
      `mount --bind ${this.dir}/default-ufw /etc/default/ufw`,
      ...binds.map((bind) => `mount --bind ${bind.dir} ${bind.target}`),
    ].join(" && ");
    return runTool(
      "ip",
      [
        "netns",
        "exec",
        this.server,
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "bash",
        "-c",
        `${mounts} && bash ${file}`,
      ],
      { timeoutMs: 60_000 },
    );
  }

  /** Writes a file into the server's copy of /etc/ufw (after.init, say). */
  async writeUfwFile(name: string, content: string, mode: number): Promise<void> {
    const path = join(this.dir, "etc-ufw", name);
    await writeFile(path, content);
    await chmod(path, mode); // writeFile's mode applies only to a file it creates; after.init exists
  }

  /** A fresh directory in the lab's temp dir, to be bind-mounted by {@link NetnsLab.runInServer}. */
  async hostDir(name: string): Promise<string> {
    const dir = join(this.dir, "binds", name);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Sends the client's packets from `from` to `dest` over the public link to the server's public address,
   * as a neighbour on the provider's network can (it routes any address to the host's MAC). Without it the
   * client reaches the server's tunnel addresses over the tunnel link only.
   */
  async routeOverPublic(from: string, dest: string): Promise<void> {
    const c = ["-n", this.client];
    await must("ip", [...c, "rule", "add", "from", from, "lookup", "100", "priority", "100"]);
    await must("ip", [
      ...c,
      "route",
      "add",
      `${dest}/32`,
      "via",
      this.addresses.serverPublic,
      "dev",
      `vc${this.id}`,
      "table",
      "100",
    ]);
  }

  /** iptables-save of the server namespace (filter table). */
  async serverRules(): Promise<string> {
    return (await must("ip", ["netns", "exec", this.server, "iptables-save", "-t", "filter"])).stdout
      .replace(/^#.*$/gm, "")
      .replace(/\[\d+:\d+\]/g, "");
  }

  /** Which probes got through, run at once (or one after another, to exercise rate limits). */
  async probe(probes: Probe[], mode: "parallel" | "sequential" = "parallel"): Promise<boolean[]> {
    const result = await must("ip", [
      "netns",
      "exec",
      this.client,
      process.execPath,
      "-e",
      PROBER,
      JSON.stringify(probes),
      mode,
    ]);
    return JSON.parse(result.stdout) as boolean[];
  }

  async stop(): Promise<void> {
    await this.listener?.stop();
    await runTool("ip", ["netns", "del", this.server]);
    await runTool("ip", ["netns", "del", this.client]);
    this.forgetNamespaces?.();
    if (this.dir !== "") await removeTempDir(this.dir);
  }
}
