import { parseArgs } from "node:util";
import { stackNameProblem } from "../../capacity/cli/stack-name.js";

/** Bad usage: an unknown or malformed flag. Printed with what is allowed; exit 2. */
export class PreflightUsageError extends Error {
  override name = "PreflightUsageError";
}

/** What `npm run preflight -- …` was asked to do. */
export interface PreflightOptions {
  help: boolean;
  /** The stack whose Pulumi.<stack>.yaml is read. */
  stack: string;
  /** Where Pulumi.<stack>.yaml is. @defaultValue the current directory */
  stackDir: string;
  /** A private key file for SSH instead of the stack's secret `sshPrivateKey`. */
  identity?: string;
  /** The DNS server to ask (`ip` or `ip:port`) instead of this machine's resolver. */
  dnsServer?: string;
}

/** The flags with one line each, for --help and for the message that names a bad flag. */
export const FLAGS = [
  ["--stack <name>", "the stack to check: reads Pulumi.<name>.yaml (required)"],
  ["--stack-dir <dir>", "where Pulumi.<name>.yaml is (default: the current directory)"],
  [
    "--identity <file>",
    "SSH private key file (default: the stack's secret sshPrivateKey, read with `pulumi config`)",
  ],
  [
    "--dns-server <ip[:port]>",
    "ask this DNS server, e.g. 1.1.1.1 for the public view (default: this machine's resolver)",
  ],
  ["--help", "this text"],
] as const;

const ALLOWED = FLAGS.map(([flag]) => flag.split(" ")[0]).join(", ");

/** Parses argv (without node and the script); throws {@link PreflightUsageError} naming what was wrong. */
export function parsePreflightArgs(argv: readonly string[]): PreflightOptions {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    const message = (error as Error).message.split("\n")[0] ?? "bad arguments";
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown !== null) throw new PreflightUsageError(`unknown option ${unknown[1]}; allowed: ${ALLOWED}`);
    const positional = /Unexpected argument '([^']+)'/.exec(message);
    if (positional !== null) {
      throw new PreflightUsageError(
        `unexpected argument "${positional[1]}": preflight takes only options (${ALLOWED}); did you mean --stack ${positional[1]}?`,
      );
    }
    throw new PreflightUsageError(`${message.replace(/\.$/, "")}; allowed: ${ALLOWED}`);
  }
  const { values } = parsed;
  if (values.help === true) return { help: true, stack: "", stackDir: "." };
  if (values.stack === undefined) {
    throw new PreflightUsageError(
      "--stack <name> is required (the stack you will `pulumi up`, e.g. --stack prod)",
    );
  }
  const problem = stackNameProblem(values.stack);
  if (problem !== undefined) throw new PreflightUsageError(problem);
  if (values["dns-server"] !== undefined && !/^[0-9a-fA-F.:[\]]+$/.test(values["dns-server"])) {
    throw new PreflightUsageError(
      `--dns-server "${values["dns-server"]}": expected an IP address, optionally with a port (1.1.1.1 or 127.0.0.1:5353)`,
    );
  }
  return {
    help: false,
    stack: values.stack,
    stackDir: values["stack-dir"] ?? ".",
    ...(values.identity === undefined ? {} : { identity: values.identity }),
    ...(values["dns-server"] === undefined ? {} : { dnsServer: values["dns-server"] }),
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      stack: { type: "string" },
      "stack-dir": { type: "string" },
      identity: { type: "string" },
      "dns-server": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** The --help text. */
export function helpText(): string {
  const width = Math.max(...FLAGS.map(([flag]) => flag.length));
  return `Usage: npm run preflight -- --stack <name> [options]

Read-only checks of both servers (over SSH, one connection per host, the stack's pinned host keys) and of
the Telegram and fal accounts, before the first \`pulumi up\`. Prints a table (check, host, status, what was
found, what to do); exits 1 when a row says block, 0 otherwise, 2 on bad usage or a stack that cannot be read.

Options:
${FLAGS.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`).join("\n")}

Secrets: TELEGRAM_BOT_TOKEN and FAL_KEY from the environment when set, otherwise the stack's secrets
telegramBotToken and falKey (read with \`pulumi config --show-secrets\`, which needs PULUMI_CONFIG_PASSPHRASE).
No secret is ever printed. TELEGRAM_API_ROOT and FAL_QUEUE_URL point the API checks elsewhere (tests).
`;
}
