import { createHash } from "node:crypto";
import { z } from "zod";

/** The only host key type the hardened sshd offers (see render/sshd-drop-in.ts), hence the only one pinned. */
export const HOST_KEY_TYPE = "ssh-ed25519";

/** The wire form of an ed25519 public key: length-prefixed "ssh-ed25519", then the 32-byte key. */
const ED25519_BLOB_PREFIX = Buffer.from([0, 0, 0, 11, ...Buffer.from(HOST_KEY_TYPE), 0, 0, 0, 32]);

const HOW_TO =
  "expected the host's ed25519 key as `ssh-keyscan -t ed25519 <host>` prints it (ssh-ed25519 AAAAC3NzaC1lZDI1NTE5…); check its fingerprint on the server's console first (see infra/README.md)";

/**
 * Reads a host key as the owner pastes it: `ssh-ed25519 <base64>`, optionally with the host in front (an
 * `ssh-keyscan` line) or a comment after (a `.pub` file). Returns `ssh-ed25519 <base64>`, or undefined when
 * the text is not a well-formed ed25519 public key.
 */
export function parseHostKey(text: string): string | undefined {
  const fields = text.trim().split(/\s+/);
  const at = fields.indexOf(HOST_KEY_TYPE);
  const base64 = at >= 0 && at <= 1 ? fields[at + 1] : undefined;
  if (base64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const blob = Buffer.from(base64, "base64");
  if (blob.length !== ED25519_BLOB_PREFIX.length + 32) return undefined;
  if (!blob.subarray(0, ED25519_BLOB_PREFIX.length).equals(ED25519_BLOB_PREFIX)) return undefined;
  return `${HOST_KEY_TYPE} ${blob.toString("base64")}`;
}

/** `tapbot:automationHostKey` / `tapbot:dataHostKey`: required, so no connection ever trusts whoever answers. */
export const hostKeySchema = z.string({ error: HOW_TO }).transform((text, ctx) => {
  const key = parseHostKey(text);
  if (key === undefined) {
    ctx.addIssue({ code: "custom", message: HOW_TO });
    return z.NEVER;
  }
  return key;
});

/** `SHA256:…`, the fingerprint `ssh-keygen -lf` and ssh's first-connection prompt show for the key. */
export function hostKeyFingerprint(key: string): string {
  const blob = Buffer.from(key.split(" ")[1] ?? "", "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** A known_hosts line for `host` on `port` (OpenSSH writes non-default ports as `[host]:port`). */
export function knownHostsLine(host: string, port: number, key: string): string {
  return `${port === 22 ? host : `[${host}]:${port}`} ${key}`;
}

/**
 * Options for the system `ssh` the Docker provider runs: the pinned key is the only one trusted for the
 * host (handed to ssh by KnownHostsCommand, so no file is written and the owner's own known_hosts plays no
 * part), a host that answers with another key is refused rather than trusted on first use, and nothing
 * prompts. ssh splits and runs the command itself, without a shell.
 */
export function strictSshOptions(host: string, port: number, key: string): string[] {
  return [
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    `KnownHostsCommand=/bin/echo ${knownHostsLine(host, port, key)}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `HostKeyAlgorithms=${HOST_KEY_TYPE}`,
    "-o",
    "BatchMode=yes",
  ];
}
