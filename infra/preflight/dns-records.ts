import { type PreflightRow, row } from "./row.js";

/** What DNS answered for one name: its A and AAAA addresses, or the resolver's error code. */
export interface DnsAnswer {
  name: string;
  a: string[];
  aaaa: string[];
  /** Set when the resolver failed (timeout, refused), not for a name without records. */
  error?: string;
}

/**
 * One row per domain of the stack: its A records must be exactly the automation host's address (Caddy gets
 * the certificate by answering Let's Encrypt there; a second address sends part of the checks and the users
 * elsewhere); an AAAA record warns, since Let's Encrypt and many clients try IPv6 first and the program
 * configures only IPv4.
 */
export function dnsRows(answers: readonly DnsAnswer[], automationHost: string): PreflightRow[] {
  return answers.map((answer) => {
    if (answer.error !== undefined) {
      return row(
        "dns",
        answer.name,
        "warn",
        `DNS did not answer (${answer.error})`,
        "run preflight again, or ask another server: --dns-server 1.1.1.1",
      );
    }
    if (answer.a.length === 0) {
      return row(
        "dns",
        answer.name,
        "block",
        "no A record",
        `add an A record ${answer.name} → ${automationHost} at the DNS provider (Caddy cannot get its certificate without it)`,
      );
    }
    const others = answer.a.filter((ip) => ip !== automationHost);
    if (others.length > 0) {
      return row(
        "dns",
        answer.name,
        "block",
        `A ${answer.a.join(", ")}; the automation host is ${automationHost}`,
        `point the A record at ${automationHost} only (and wait for the old record's TTL)`,
      );
    }
    if (answer.aaaa.length > 0) {
      return row(
        "dns",
        answer.name,
        "warn",
        `A ${automationHost}, and AAAA ${answer.aaaa.join(", ")}`,
        "remove the AAAA record unless it is this host's IPv6 and its firewall allows 80/443 there: Let's Encrypt tries IPv6 first",
      );
    }
    return row("dns", answer.name, "ok", `A ${automationHost}`);
  });
}
