import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * How long a shared SSH connection outlives its last user. Long enough to carry the Docker provider from one
 * step of `pulumi up` to the next (a few seconds apart, or a minute while an image ships), short enough that
 * nothing lingers long after the deploy.
 */
export const CONTROL_PERSIST_SECONDS = 120;

/**
 * Options that make the ssh processes started for one host share one TCP connection (OpenSSH's
 * ControlMaster). The Docker provider starts a new `ssh … docker system dial-stdio` for every connection its
 * HTTP client opens: dozens in one `pulumi up`, which the hardening's UFW `limit` rule (6 new connections in
 * 30 s) would cut off for any address outside `tapbot:adminAllowIps`. With these, the first ssh that finds no
 * master becomes one and the rest ride on it. A burst that starts before any master exists still opens one
 * connection each (measured in tests/infra/ssh-multiplexing.test.ts), which is why the allowlist, not this,
 * is what keeps the owner in; this makes the deploy lighter on sshd and fail2ban's logs.
 *
 * `%C` is a hash of the user, host and port, so each host gets its own socket; the directory is the owner's
 * ~/.ssh (created 0700 if absent), never a shared /tmp where another user could plant the socket.
 */
export function sharedConnectionOptions(controlDir = defaultControlDir()): string[] {
  return [
    "-o",
    "ControlMaster=auto",
    "-o",
    `ControlPath=${join(controlDir, "tapbot-%C")}`,
    "-o",
    `ControlPersist=${CONTROL_PERSIST_SECONDS}`,
  ];
}

/** ~/.ssh of whoever runs `pulumi up`, created private when it does not exist yet. */
function defaultControlDir(): string {
  const dir = join(homedir(), ".ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
