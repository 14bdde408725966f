import { type HostFile, installFileLines, scriptPrelude } from "./shell-script.js";

/** Settings of the sshd hardening drop-in. */
export interface SshdOptions {
  /** Failed authentications per connection before sshd drops it. */
  maxAuthTries: number;
  /** Seconds a client has to authenticate. */
  loginGraceTimeSeconds: number;
}

/**
 * Path of the drop-in. sshd keeps the FIRST value it reads for most keywords and Ubuntu's sshd_config
 * includes `sshd_config.d/*.conf` at its top in lexical order, so "00-" wins over cloud-init's
 * `50-cloud-init.conf` (which may say `PasswordAuthentication yes`).
 */
export const SSHD_DROP_IN_PATH = "/etc/ssh/sshd_config.d/00-tapbot-hardening.conf";

/** The drop-in: keys only (no password, no keyboard-interactive), bounded tries and grace time, no X11. */
export function renderSshdDropIn(options: SshdOptions): HostFile {
  if (!Number.isInteger(options.maxAuthTries) || options.maxAuthTries < 1 || options.maxAuthTries > 10) {
    throw new Error(`sshd maxAuthTries must be an integer 1..10; got ${options.maxAuthTries}`);
  }
  const grace = options.loginGraceTimeSeconds;
  if (!Number.isInteger(grace) || grace < 10 || grace > 600) {
    throw new Error(`sshd loginGraceTimeSeconds must be an integer 10..600; got ${grace}`);
  }
  return {
    path: SSHD_DROP_IN_PATH,
    mode: "0644",
    content: `# Managed by tapbot infra (Pulumi). Keys only; the first value sshd reads wins, hence the 00- prefix.
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
AuthenticationMethods publickey
MaxAuthTries ${options.maxAuthTries}
LoginGraceTime ${grace}
X11Forwarding no
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
