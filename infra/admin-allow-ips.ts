import { isIPv4, isIPv6 } from "node:net";
import { z } from "zod";

/**
 * The widest prefix an allowlist entry may cover. The list bypasses SSH rate limiting and fail2ban and opens
 * the admin UIs, so a whole provider's range (or 0.0.0.0/0) would switch that protection off for strangers;
 * a /16 (IPv4) or /32 (IPv6) still covers a dynamic address from one ISP.
 */
export const WIDEST_PREFIX = { 4: 16, 6: 32 } as const;

/** One checked entry: an address, or a network whose host bits are zero. */
export interface AllowEntry {
  /** As the owner wrote it (an address, or address/prefix). */
  text: string;
  family: 4 | 6;
  prefix: number;
}

function ipv4Bits(address: string): bigint {
  return address.split(".").reduce((bits, octet) => (bits << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6Bits(address: string): bigint {
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hex groups first.
  const tail = address.match(/(\d+\.\d+\.\d+\.\d+)$/);
  let text = address;
  if (tail?.[1] !== undefined) {
    const v4 = ipv4Bits(tail[1]);
    text = `${address.slice(0, -tail[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups =
    rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return groups.reduce((bits, group) => (bits << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

function bitsOf(address: string, family: 4 | 6): bigint {
  return family === 4 ? ipv4Bits(address) : ipv6Bits(address);
}

/** Network bits written back in the family's usual notation (IPv6 with its first run of zero groups as ::). */
function formatBits(bits: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((bits >> shift) & 0xffn)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => ((bits >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::");
}

/**
 * Parses one entry, or returns why it is refused: not an address, a prefix out of range or wider than
 * {@link WIDEST_PREFIX}, or host bits set (`203.0.113.7/24` is almost always a typo for `/32` or for
 * `203.0.113.0/24`, and tools disagree on which it means).
 */
export function parseAllowEntry(text: string): AllowEntry | string {
  const [address = "", prefixText, extra] = text.split("/");
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  if (family === undefined || extra !== undefined) {
    return `"${text}" is not an IPv4/IPv6 address or CIDR (like 203.0.113.7, 203.0.113.0/24 or 2001:db8::/48)`;
  }
  const width = family === 4 ? 32 : 128;
  if (prefixText === undefined) return { text, family, prefix: width };
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > width) {
    return `"${text}": the prefix must be a number 0..${width}`;
  }
  const prefix = Number(prefixText);
  if (prefix < WIDEST_PREFIX[family]) {
    return `"${text}" covers too many addresses: an allowlisted address is never rate-limited or banned and reaches the admin UIs, so the widest allowed is /${WIDEST_PREFIX[family]} for IPv${family}`;
  }
  const bits = bitsOf(address, family);
  const hostBits = BigInt(width - prefix);
  const network = (bits >> hostBits) << hostBits;
  if (network === bits) return { text, family, prefix };
  return `"${text}" has host bits set: write ${address} for the one address or ${formatBits(network, family)}/${prefix} for the network`;
}

/**
 * `tapbot:adminAllowIps`: the owner's addresses or networks. Required and non-empty: without it the owner's
 * own `pulumi up` (dozens of SSH connections from one address) meets UFW's `limit` and fail2ban like any
 * scanner, and the admin UIs would answer nobody. Pulumi hands the list over as JSON text; a plain
 * comma-separated string is accepted too, so `pulumi config set adminAllowIps 203.0.113.7` works.
 */
export const adminAllowIpsSchema = z
  .preprocess(
    (value) => {
      if (typeof value !== "string") return value;
      const text = value.trim();
      if (text.startsWith("[")) {
        try {
          return JSON.parse(text);
        } catch {
          return value;
        }
      }
      return text === "" ? [] : text.split(/[\s,]+/).filter((part) => part !== "");
    },
    z.array(z.string(), {
      error:
        "expected a list of the owner's IPv4/IPv6 addresses or CIDRs (pulumi config set --path 'adminAllowIps[0]' 203.0.113.7)",
    }),
  )
  .superRefine((entries, ctx) => {
    if (entries.length === 0) {
      ctx.addIssue({
        code: "custom",
        message:
          "list at least one address you run `pulumi up` from (pulumi config set --path 'adminAllowIps[0]' <your address>): SSH from it is never rate-limited or banned, and the admin UIs answer only it",
      });
    }
    for (const entry of entries) {
      const parsed = parseAllowEntry(entry);
      if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
    }
  });

/**
 * The allowlist entry that covers `address`, or undefined. An IPv4 address written as IPv6
 * (`::ffff:203.0.113.7`, as a dual-stack sshd may report it) is judged as the IPv4 address it is.
 */
export function coveringEntry(entries: readonly string[], address: string): string | undefined {
  const mapped = address.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i)?.[1];
  const plain = mapped ?? address;
  const family = isIPv4(plain) ? 4 : isIPv6(plain) ? 6 : undefined;
  if (family === undefined) return undefined;
  const width = family === 4 ? 32 : 128;
  const bits = bitsOf(plain, family);
  return entries.find((text) => {
    const entry = parseAllowEntry(text);
    if (typeof entry === "string" || entry.family !== family) return false;
    const hostBits = BigInt(width - entry.prefix);
    return bits >> hostBits === bitsOf(text.split("/")[0] ?? "", family) >> hostBits;
  });
}
