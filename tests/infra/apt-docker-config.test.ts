import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderDockerDaemonJson } from "../../infra/render/docker-daemon.js";
import { renderAutoUpgrades, renderUnattendedUpgrades } from "../../infra/render/unattended-upgrades.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";

/** What Ubuntu 24.04's 50unattended-upgrades says when someone enabled the -updates pocket in it. */
const UBUNTU_DEFAULT = `Unattended-Upgrade::Allowed-Origins {
	"\${distro_id}:\${distro_codename}";
	"\${distro_id}:\${distro_codename}-security";
	"\${distro_id}:\${distro_codename}-updates";
	"\${distro_id}ESMApps:\${distro_codename}-apps-security";
	"\${distro_id}ESM:\${distro_codename}-infra-security";
};
Unattended-Upgrade::Origins-Pattern { "origin=Docker"; };
`;

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir("apt");
});
afterAll(async () => {
  await removeTempDir(dir);
});

/** apt's own parser on the files in apt.conf.d order (50 before 52 before…): what apt would see. */
async function aptDump(...contents: string[]): Promise<string> {
  const file = join(dir, `apt-${contents.length}.conf`);
  await writeFile(file, contents.join("\n"));
  const result = await runTool("apt-config", ["-c", file, "dump"]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

describe("unattended-upgrades, read by apt-config", () => {
  it("leaves exactly the security origins, whatever the distro file allowed before it", async () => {
    const dump = await aptDump(UBUNTU_DEFAULT, renderUnattendedUpgrades().content);
    const origins = dump
      .split("\n")
      .filter((l) => l.startsWith("Unattended-Upgrade::Allowed-Origins:: "))
      .map((l) => l.replace(/^[^"]*"|";$/g, ""));
    expect(origins).toEqual([
      `\${distro_id}:\${distro_codename}-security`,
      `\${distro_id}ESMApps:\${distro_codename}-apps-security`,
      `\${distro_id}ESM:\${distro_codename}-infra-security`,
    ]);
    expect(dump).not.toContain("origin=Docker");
  });

  it("shows that the distro file alone would also install -updates, which is why #clear is there", async () => {
    expect(await aptDump(UBUNTU_DEFAULT)).toContain("-updates");
  });

  it("turns on the daily list update and unattended run", async () => {
    const dump = await aptDump(renderAutoUpgrades().content);
    expect(dump).toContain('APT::Periodic::Update-Package-Lists "1";');
    expect(dump).toContain('APT::Periodic::Unattended-Upgrade "1";');
  });
});

describe("daemon.json", () => {
  it("caps every container's log and keeps containers running through a dockerd restart", () => {
    const config = plainStackConfig();
    const file = renderDockerDaemonJson({
      logMaxSize: config.dockerLogMaxSize,
      logMaxFile: config.dockerLogMaxFile,
    });
    expect(JSON.parse(file.content)).toEqual({
      "log-driver": "json-file",
      "log-opts": { "max-size": "10m", "max-file": "3" },
      "live-restore": true,
    });
  });
});
