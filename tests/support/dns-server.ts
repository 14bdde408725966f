import { Resolver } from "node:dns/promises";
import { type RunningChild, startChild } from "./child-process.js";
import { freePort } from "./free-port.js";
import { waitUntil } from "./wait-until.js";

/** A running throwaway DNS server; ask it at `server` (`127.0.0.1:<port>`). */
export interface DnsServer {
  readonly server: string;
  stop(): Promise<void>;
}

/**
 * A real dnsmasq on a loopback port that answers for the given names (A records, plus AAAA where given) and
 * for nothing else in their zones (no such name, no such record), forwarding nothing: the stack's domains as the owner's DNS provider would publish them.
 */
export async function startDnsServer(
  records: Record<string, { a: string[]; aaaa?: string[] }>,
): Promise<DnsServer> {
  const port = await freePort();
  const args = [
    "--keep-in-foreground",
    "--log-facility=-",
    `--port=${port}`,
    "--listen-address=127.0.0.1",
    "--bind-interfaces",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--user=root",
  ];
  const zones = new Set<string>();
  for (const [name, { a, aaaa = [] }] of Object.entries(records)) {
    for (const ip of [...a, ...aaaa]) args.push(`--host-record=${name},${ip}`);
    zones.add(name.split(".").slice(-2).join("."));
  }
  // Authoritative for the names' zones: a missing name or record type is NXDOMAIN/NODATA, never forwarded.
  for (const zone of zones) args.push(`--local=/${zone}/`);
  const child: RunningChild = startChild("dnsmasq", args);
  const first = Object.keys(records)[0];
  const resolver = new Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  await waitUntil(
    async () =>
      first === undefined || (await resolver.resolve4(first).catch(() => undefined)) !== undefined
        ? true
        : undefined,
    { timeoutMs: 10_000, describe: () => `dnsmasq answering on 127.0.0.1:${port}:\n${child.logTail(20)}` },
  );
  return { server: `127.0.0.1:${port}`, stop: () => child.stop("SIGTERM", 5_000) };
}
