import type { HostFile } from "./shell-script.js";

/**
 * Security updates only. Ubuntu's own 50unattended-upgrades may list more origins; `#clear` empties the
 * lists that file built before this one (52- sorts after 50-) adds the security pockets back, so apt ends
 * up with exactly these origins whatever the distro default says.
 */
export function renderUnattendedUpgrades(): HostFile {
  return {
    path: "/etc/apt/apt.conf.d/52tapbot-unattended-upgrades",
    mode: "0644",
    content: `// Managed by tapbot infra (Pulumi): security updates only.
#clear Unattended-Upgrade::Allowed-Origins;
#clear Unattended-Upgrade::Origins-Pattern;
Unattended-Upgrade::Allowed-Origins {
  "\${distro_id}:\${distro_codename}-security";
  "\${distro_id}ESMApps:\${distro_codename}-apps-security";
  "\${distro_id}ESM:\${distro_codename}-infra-security";
};
Unattended-Upgrade::Remove-Unused-Kernel-Packages "true";
Unattended-Upgrade::Automatic-Reboot "false";
`,
  };
}

/** Turns the daily apt timer on: refresh the package lists and run unattended-upgrade. */
export function renderAutoUpgrades(): HostFile {
  return {
    path: "/etc/apt/apt.conf.d/20auto-upgrades",
    mode: "0644",
    content: `// Managed by tapbot infra (Pulumi).
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
`,
  };
}
