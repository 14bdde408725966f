import { coveringEntry } from "../admin-allow-ips.js";
import { type PreflightRow, row } from "./row.js";

/**
 * Whether the address preflight connected from, as the host saw it (the first field of SSH_CONNECTION), is
 * in `tapbot:adminAllowIps`. It blocks when it is not: `pulumi up` opens a new SSH connection for each host
 * script and a burst of them for the Docker provider's first steps (counted from the program in
 * tests/infra/ufw-netns.test.ts), and the hardening's UFW `limit` rule refuses a 7th new connection within
 * 30 s from any address it does not know, so the deploy would lock its own owner out halfway. Judged from the
 * host's side because the address the owner believes he has is often not the one after his router's NAT.
 */
export function ownerAddressRow(
  host: string,
  sshConnection: string,
  allowIps: readonly string[],
): PreflightRow {
  const address = sshConnection.trim().split(/\s+/)[0] ?? "";
  if (address === "") {
    return row(
      "your address",
      host,
      "warn",
      "the host did not say where the connection comes from (SSH_CONNECTION is empty)",
      "check that the address you run `pulumi up` from is in tapbot:adminAllowIps",
    );
  }
  const entry = coveringEntry(allowIps, address);
  if (entry !== undefined) {
    return row(
      "your address",
      host,
      "ok",
      `${address} (as the host sees you) is in tapbot:adminAllowIps (${entry}): never rate-limited or banned`,
    );
  }
  return row(
    "your address",
    host,
    "block",
    `${address} (as the host sees you) is not in tapbot:adminAllowIps (${allowIps.join(", ")}); UFW will refuse its 7th new SSH connection within 30 s, and \`pulumi up\` opens more than that`,
    `pulumi config set --path 'adminAllowIps[${allowIps.length}]' ${address} (or run \`pulumi up\` from a listed address)`,
  );
}
