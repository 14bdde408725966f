import { Resolver } from "node:dns/promises";
import type { DnsAnswer } from "./dns-records.js";

/** Codes that mean "no such record", not "DNS failed". */
const NO_RECORD = new Set(["ENOTFOUND", "ENODATA", "NXDOMAIN"]);

/**
 * Asks DNS for each name's A and AAAA records, through this machine's resolver or `server` (`ip` or
 * `ip:port`). Directly, not through getaddrinfo: /etc/hosts on the owner's machine says nothing about what
 * Let's Encrypt and the users will see.
 */
export async function lookupNames(names: readonly string[], server?: string): Promise<DnsAnswer[]> {
  const resolver = new Resolver({ timeout: 3000, tries: 2 });
  if (server !== undefined) resolver.setServers([server]);
  const records = async (name: string, type: "A" | "AAAA"): Promise<string[]> => {
    try {
      return type === "A" ? await resolver.resolve4(name) : await resolver.resolve6(name);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      if (NO_RECORD.has(code)) return [];
      throw new Error(code);
    }
  };
  return Promise.all(
    names.map(async (name): Promise<DnsAnswer> => {
      try {
        const [a, aaaa] = await Promise.all([records(name, "A"), records(name, "AAAA")]);
        return { name, a: a.sort(), aaaa: aaaa.sort() };
      } catch (error) {
        return { name, a: [], aaaa: [], error: (error as Error).message };
      }
    }),
  );
}
