import { type DockerDaemonOptions, renderDaemonJsonMergeLines } from "./docker-daemon.js";
import { installFileLines, scriptPrelude, shellQuote } from "./shell-script.js";
import { renderAutoUpgrades, renderUnattendedUpgrades } from "./unattended-upgrades.js";

/**
 * Ubuntu packages every host needs. python3-systemd lets fail2ban read sshd's failures from the journal (no
 * dependency on rsyslog's auth.log).
 */
export const HOST_PACKAGES = [
  "ufw",
  "fail2ban",
  "python3-systemd",
  "unattended-upgrades",
  "wireguard-tools",
] as const;

/**
 * Docker engine when the host has none: Ubuntu's own docker.io, so the security pocket updates it. A host
 * that already runs Docker (docker-ce from Docker's repository, say) keeps it: installing docker.io next to
 * docker-ce would conflict on containerd.
 */
export const DOCKER_PACKAGE = "docker.io";

/** Inputs of the package script. */
export interface PackagesOptions extends DockerDaemonOptions {
  /** The SSH user; added to the docker group so the Docker provider can reach dockerd over ssh://. */
  sshUser: string;
}

/**
 * Installs the missing packages (apt runs only when one is missing), the security-only
 * unattended-upgrades policy and the program's settings merged into daemon.json (the owner's other settings
 * kept, the old file backed up). dockerd is restarted only when daemon.json changed;
 * live-restore keeps the containers running through that restart.
 */
export function renderPackagesScript(options: PackagesOptions): string {
  if (!/^[a-z_][a-z0-9_-]*$/.test(options.sshUser)) {
    throw new Error(`sshUser must be a Linux user name; got ${options.sshUser}`);
  }
  return `${scriptPrelude("packages, unattended security upgrades, Docker engine with log rotation")}
export DEBIAN_FRONTEND=noninteractive
packages=(${HOST_PACKAGES.join(" ")})
missing=()
for p in "\${packages[@]}"; do
  dpkg-query -W -f='\${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v dockerd >/dev/null 2>&1; then missing+=(${DOCKER_PACKAGE}); fi
if [ "\${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "\${missing[@]}"
fi
${installFileLines(renderUnattendedUpgrades())}${installFileLines(renderAutoUpgrades())}${renderDaemonJsonMergeLines(options, ["systemctl restart docker.service"])}systemctl enable --now docker.service unattended-upgrades.service
user=${shellQuote(options.sshUser)}
if [ "$user" != root ] && ! id -nG "$user" | tr ' ' '\\n' | grep -qx docker; then
  usermod -aG docker "$user"
fi
`;
}
