import { scriptPrelude, shellQuote } from "./shell-script.js";

/** A port opened to one source address only. */
export interface UfwAllowFrom {
  from: string;
  port: number;
  proto: "tcp" | "udp";
  comment: string;
  /** Only packets arriving on this interface (e.g. "wg0"), so a spoofed source on the public side is refused. */
  interface?: string;
}

/** The firewall of one host. */
export interface UfwOptions {
  /** sshd's port; rate-limited with `ufw limit` for everyone but `ownerAddresses`. */
  sshPort: number;
  /**
   * The owner's addresses or CIDRs (`tapbot:adminAllowIps`): SSH from them is allowed ahead of the `limit`
   * rule, so the dozens of connections one `pulumi up` opens from one address are never cut off.
   */
  ownerAddresses: string[];
  /** TCP ports open to everyone: 80 and 443 on the host that runs the reverse proxy, nothing elsewhere. */
  publicTcpPorts: number[];
  /** Ports open to a single peer (WireGuard from the other host). */
  allowFrom: UfwAllowFrom[];
  /**
   * Delete every allow/deny/reject/limit rule this script does not write (`tapbot:removeForeignUfwRules`):
   * an existing server's old openings (the old bot's 8080, say) would otherwise stay open after the deploy.
   * Off by default: the owner decides, after preflight lists them.
   * @defaultValue false
   */
  removeForeignRules?: boolean;
}

/**
 * A ufw rule as a command, without its comment and position: how `ufw show added` and this script both
 * write it (`ufw insert 1 allow …` and `ufw prepend allow …` are listed as `ufw allow …`). The script's
 * removal of foreign rules normalises `ufw show added` with the same steps in sed.
 */
export function ruleKey(line: string): string {
  return line
    .trim()
    .replace(/\s+comment\s+(['"]).*\1\s*$/, "")
    .replace(/^ufw\s+/, "")
    .replace(/^(insert\s+[0-9]+|prepend)\s+/, "")
    .replace(/\s+/g, " ")
    .trim();
}

/** The rule lines ufw lists and removes: allow, deny, reject, limit (route rules are left alone). */
export const UFW_RULE_LINE = /^ufw\s+((insert\s+[0-9]+|prepend)\s+)?(allow|deny|reject|limit)\s/;

/** The sed program that turns `ufw show added` lines into {@link ruleKey}s. */
const RULE_KEY_SED = [
  `s/[[:space:]]+comment[[:space:]]+(['"]).*\\1[[:space:]]*$//`,
  "s/^[[:space:]]*ufw[[:space:]]+//",
  "s/^(insert[[:space:]]+[0-9]+|prepend)[[:space:]]+//",
  "s/[[:space:]]+/ /g",
  "s/ $//",
];

/** Heredoc delimiter of the program's rule list. */
const RULES_END = "TAPBOT_UFW_RULES";

/** Lines that delete each listed rule whose key is not among `keep`, saying which. */
function removeForeignLines(keep: string[]): string {
  const sed = RULE_KEY_SED.map((e) => `-e ${shellQuote(e)}`).join(" ");
  return `# tapbot:removeForeignUfwRules: delete every rule this script does not write.
program_rules="$(mktemp)"
cat >"$program_rules" <<'${RULES_END}'
${keep.join("\n")}
${RULES_END}
ufw show added | sed -E ${sed} | { grep -E '^(allow|deny|reject|limit) ' || true; } \\
  | { grep -Fxv -f "$program_rules" || true; } | while IFS= read -r rule; do
  echo "removing a rule the deploy does not write: ufw delete $rule"
  read -ra words <<<"$rule"
  ufw --force delete "\${words[@]}"
done
rm -f "$program_rules"
`;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${what} must be a port 1..65535; got ${port}`);
  }
}

/** A source goes into the script unquoted: only address characters (IPv4/IPv6, optional /prefix) pass. */
function checkSource(from: string, what: string): void {
  if (!/^[0-9a-fA-F.:/]+$/.test(from)) throw new Error(`${what} must be an address or CIDR; got ${from}`);
}

/**
 * Deny incoming, allow outgoing, the owner's SSH allowed at the top (`ufw prepend`, so it stays ahead of a
 * `limit` rule an older run or the owner's own hand put first), `limit` on SSH for everyone else, then the
 * allowed ports, and only then `enable`: the SSH rules are in place before the firewall turns on, so enabling
 * it cannot cut the session that runs this script.
 * Re-running adds nothing (ufw skips existing rules) and enables only when inactive.
 */
export function renderUfwScript(options: UfwOptions): string {
  checkPort(options.sshPort, "sshPort");
  for (const port of options.publicTcpPorts) {
    checkPort(port, "public port");
    if (port === options.sshPort)
      throw new Error(`the SSH port ${port} is rate-limited; do not list it as public`);
  }
  const peerRules = options.allowFrom.map((rule) => {
    checkPort(rule.port, `port allowed from ${rule.from}`);
    checkSource(rule.from, "ufw source");
    if (rule.interface !== undefined && !/^[a-z][a-z0-9]{0,14}$/.test(rule.interface)) {
      throw new Error(`ufw interface must be a Linux interface name; got ${rule.interface}`);
    }
    const on = rule.interface === undefined ? "" : `in on ${rule.interface} `;
    return `ufw allow ${on}from ${rule.from} to any port ${rule.port} proto ${rule.proto} comment ${shellQuote(rule.comment)}`;
  });
  const ownerRules = options.ownerAddresses.map((from) => {
    checkSource(from, "owner address");
    return `ufw prepend allow from ${from} to any port ${options.sshPort} proto tcp comment 'owner ssh, never rate-limited'`;
  });
  const publicRules = options.publicTcpPorts.map(
    (port) => `ufw allow ${port}/tcp comment ${shellQuote(`public ${port}`)}`,
  );
  const rules = [
    ...ownerRules,
    `ufw limit ${options.sshPort}/tcp comment 'ssh, rate-limited'`,
    ...publicRules,
    ...peerRules,
  ];
  const removal = options.removeForeignRules === true ? removeForeignLines(rules.map(ruleKey)) : "";
  return `${scriptPrelude("UFW: deny incoming, allow outgoing, limit SSH, then enable")}
ufw default deny incoming
ufw default allow outgoing
${rules.map((line) => `${line}\n`).join("")}${removal}ufw logging low
if ! ufw status | grep -q "^Status: active"; then
  ufw --force enable
fi
`;
}
