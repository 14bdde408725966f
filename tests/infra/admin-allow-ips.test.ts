import { describe, expect, it } from "vitest";
import { coveringEntry, parseAllowEntry } from "../../infra/admin-allow-ips.js";
import { parsePlainConfig } from "../../infra/config.js";
import { unparsedStackConfig } from "./helpers/stack-config.js";

/** The stack's plain config with a chosen `tapbot:adminAllowIps` as Pulumi hands it over (text). */
function withAllowlist(value: string | undefined) {
  return () => parsePlainConfig({ ...unparsedStackConfig(), adminAllowIps: value });
}

describe("tapbot:adminAllowIps", () => {
  it("takes IPv4 and IPv6 addresses and networks, as Pulumi's JSON list or comma-separated text", () => {
    expect(withAllowlist('["203.0.113.7","2001:db8:1::/48","192.0.2.0/24"]')().adminAllowIps).toEqual([
      "203.0.113.7",
      "2001:db8:1::/48",
      "192.0.2.0/24",
    ]);
    expect(withAllowlist("203.0.113.7, 2001:db8::1")().adminAllowIps).toEqual(["203.0.113.7", "2001:db8::1"]);
  });

  it("is required and non-empty, and says how to set it", () => {
    expect(withAllowlist(undefined)).toThrow(
      /tapbot:adminAllowIps is required .*pulumi config set --path 'adminAllowIps\[0\]' 203\.0\.113\.7/,
    );
    expect(withAllowlist("[]")).toThrow(
      /tapbot:adminAllowIps: list at least one address you run `pulumi up` from/,
    );
  });

  it("names each bad entry with what is allowed", () => {
    const attempt = withAllowlist(
      '["203.0.113.7","n8n.tapbot.kz","0.0.0.0/0","203.0.113.7/24","2001:db8::/200"]',
    );
    expect(attempt).toThrow(/"n8n\.tapbot\.kz" is not an IPv4\/IPv6 address or CIDR/);
    expect(attempt).toThrow(/"0\.0\.0\.0\/0" covers too many addresses.*\/16 for IPv4/);
    expect(attempt).toThrow(/write 203\.0\.113\.7 for the one address or 203\.0\.113\.0\/24 for the network/);
    expect(attempt).toThrow(/"2001:db8::\/200": the prefix must be a number 0\.\.128/);
  });

  it("finds host bits in IPv6 networks, including an embedded IPv4 tail", () => {
    expect(parseAllowEntry("2001:db8::1/64")).toMatch(
      /write 2001:db8::1 .* or 2001:db8::\/64 for the network/,
    );
    expect(parseAllowEntry("::ffff:192.0.2.0/120")).toEqual({
      text: "::ffff:192.0.2.0/120",
      family: 6,
      prefix: 120,
    });
    expect(parseAllowEntry("::ffff:192.0.2.1/120")).toMatch(/::ffff:c000:200\/120 for the network/);
    expect(parseAllowEntry("2001:db8::/31")).toMatch(/\/32 for IPv6/);
    expect(parseAllowEntry("203.0.113.7")).toEqual({ text: "203.0.113.7", family: 4, prefix: 32 });
  });
});

describe("which entry covers the address a host sees the owner at", () => {
  const list = ["203.0.113.7", "198.51.100.0/24", "2001:db8:1::/48"];
  it("matches an address, a network's member and an IPv4 address a dual-stack sshd writes as IPv6", () => {
    expect(coveringEntry(list, "203.0.113.7")).toBe("203.0.113.7");
    expect(coveringEntry(list, "198.51.100.254")).toBe("198.51.100.0/24");
    expect(coveringEntry(list, "2001:db8:1:ffff::9")).toBe("2001:db8:1::/48");
    expect(coveringEntry(list, "::ffff:198.51.100.3")).toBe("198.51.100.0/24");
  });
  it("matches nothing next door, in the other family, or that is not an address", () => {
    expect(coveringEntry(list, "203.0.113.8")).toBeUndefined();
    expect(coveringEntry(list, "198.51.101.1")).toBeUndefined();
    expect(coveringEntry(list, "2001:db8:2::1")).toBeUndefined();
    expect(coveringEntry(["::ffff:203.0.113.7"], "203.0.113.7")).toBeUndefined();
    expect(coveringEntry(list, "")).toBeUndefined();
    expect(coveringEntry(list, "not-an-address")).toBeUndefined();
  });
});
