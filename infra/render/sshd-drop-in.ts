import { type HostFile, installFileLines, scriptPrelude } from "./shell-script.js";

/** Settings of the sshd hardening drop-in. */
export interface SshdOptions {
  /** Failed authentications per connection before sshd drops it. */
  maxAuthTries: number;
  /** Seconds a client has to authenticate. */
  loginGraceTimeSeconds: number;
  /** The accounts sshd admits (AllowUsers): the program's own user first. Root logs in only if listed. */
  allowUsers: readonly string[];
}

/**
 * Algorithms that ssh-audit passes without a warning and that both OpenSSH 9.2 (the tests' sshd) and 9.6
 * (Ubuntu 24.04) know: no NIST curves, no SHA-1, no 2048-bit group exchange, no encrypt-and-MAC modes.
 * (sntrup761x25519, the post-quantum hybrid, is left out: ssh-audit 2.5.0 flags it as experimental.)
 * Every OpenSSH client of the last years and Go's x/crypto/ssh (the command provider) speak them.
 */
export const SSHD_ALGORITHMS = {
  hostKey: ["ssh-ed25519"],
  kex: [
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
  ],
  ciphers: [
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
  ],
  macs: ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"],
} as const;

/**
 * Path of the drop-in. sshd keeps the FIRST value it reads for most keywords and Ubuntu's sshd_config
 * includes `sshd_config.d/*.conf` at its top in lexical order, so "00-" wins over cloud-init's
 * `50-cloud-init.conf` (which may say `PasswordAuthentication yes`).
 */
export const SSHD_DROP_IN_PATH = "/etc/ssh/sshd_config.d/00-tapbot-hardening.conf";

/**
 * The drop-in: keys only (no password, no keyboard-interactive) and only for the listed accounts, the ed25519
 * host key alone (the one `tapbot:*HostKey` pins), modern algorithms only, bounded tries and grace time,
 * verbose logging (key fingerprints, for fail2ban and the owner), dead clients dropped after 15 minutes,
 * and no forwarding of any kind (X11, TCP, agent, sockets, tunnels): the program and the Docker provider
 * only run commands (dev-sec's ssh-baseline).
 */
export function renderSshdDropIn(options: SshdOptions): HostFile {
  if (!Number.isInteger(options.maxAuthTries) || options.maxAuthTries < 1 || options.maxAuthTries > 10) {
    throw new Error(`sshd maxAuthTries must be an integer 1..10; got ${options.maxAuthTries}`);
  }
  const grace = options.loginGraceTimeSeconds;
  if (!Number.isInteger(grace) || grace < 10 || grace > 600) {
    throw new Error(`sshd loginGraceTimeSeconds must be an integer 10..600; got ${grace}`);
  }
  const users = [...new Set(options.allowUsers)];
  if (users.length === 0 || users.some((u) => !/^[a-z_][a-z0-9_-]*$/.test(u))) {
    throw new Error(`sshd allowUsers must be Linux user names, at least one; got ${users.join(", ")}`);
  }
  const a = SSHD_ALGORITHMS;
  return {
    path: SSHD_DROP_IN_PATH,
    mode: "0644",
    content: `# Managed by tapbot infra (Pulumi). Keys only; the first value sshd reads wins, hence the 00- prefix.
HostKey /etc/ssh/ssh_host_ed25519_key
HostKeyAlgorithms ${a.hostKey.join(",")}
KexAlgorithms ${a.kex.join(",")}
Ciphers ${a.ciphers.join(",")}
MACs ${a.macs.join(",")}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
HostbasedAuthentication no
IgnoreRhosts yes
PermitRootLogin ${users.includes("root") ? "prohibit-password" : "no"}
AuthenticationMethods publickey
AllowUsers ${users.join(" ")}
MaxAuthTries ${options.maxAuthTries}
LoginGraceTime ${grace}
MaxSessions 10
LogLevel VERBOSE
ClientAliveInterval 300
ClientAliveCountMax 3
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
Compression no
UseDNS no
`,
  };
}

/**
 * Installs the drop-in, then validates the whole configuration with `sshd -t` BEFORE reloading. A file that
 * fails the test is replaced by the previous one (or removed), and the script fails without reloading, so a
 * bad drop-in can never lock the owner out.
 */
export function renderSshdScript(options: SshdOptions): string {
  const file = renderSshdDropIn(options);
  return `${scriptPrelude("sshd hardening drop-in, validated by sshd -t before the reload")}
backup="$(mktemp)"
had_previous=0
if [ -f ${file.path} ]; then
  cp -p ${file.path} "$backup"
  had_previous=1
fi
changed=0
${installFileLines(file, ["changed=1"])}
if [ "$changed" -eq 1 ]; then
  mkdir -p /run/sshd
  if ! sshd -t; then
    echo "sshd -t rejected the new drop-in; restoring the previous configuration, not reloading" >&2
    if [ "$had_previous" -eq 1 ]; then cp -p "$backup" ${file.path}; else rm -f ${file.path}; fi
    rm -f "$backup"
    exit 1
  fi
  systemctl try-reload-or-restart ssh.service
fi
rm -f "$backup"
`;
}
