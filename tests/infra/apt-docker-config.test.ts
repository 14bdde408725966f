import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderDaemonJsonMergeLines } from "../../infra/render/docker-daemon.js";
import { scriptPrelude } from "../../infra/render/shell-script.js";
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

describe("daemon.json: the program's settings merged into the owner's file", () => {
  const config = plainStackConfig();
  const OURS = {
    "log-driver": "json-file",
    "log-opts": { "max-size": config.dockerLogMaxSize, "max-file": String(config.dockerLogMaxFile) },
    "live-restore": true,
  };
  /** An existing server's file: its own data-root and registry, longer logs with an option of its own. */
  const OWNERS = `{\n  "data-root": "/mnt/docker",\n  "insecure-registries": ["10.0.0.5:5000"],\n  "log-opts": { "max-size": "50m", "compress": "true" }\n}\n`;

  /** Runs the merge lines, as the packages script does, on `file`; prints "restart" when it changed. */
  const merge = (file: string) =>
    runTool("bash", [
      "-c",
      `${scriptPrelude("daemon.json merge check")}${renderDaemonJsonMergeLines({ logMaxSize: config.dockerLogMaxSize, logMaxFile: config.dockerLogMaxFile }, ["echo restart"], file)}`,
    ]);
  const backups = async (sub: string) =>
    (await readdir(join(dir, sub))).filter((f) => f.startsWith("daemon.json.tapbot-backup-"));

  it("writes the program's settings where there is no file, and changes nothing the second time", async () => {
    await mkdir(join(dir, "fresh"));
    const file = join(dir, "fresh", "daemon.json");
    const first = await merge(file);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("restart\n");
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual(OURS);
    const second = await merge(file);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe("");
    expect(await backups("fresh")).toEqual([]);
  });

  it("keeps the owner's settings, sets the program's, backs the old file up once", async () => {
    const sub = "owned";
    const file = join(dir, sub, "daemon.json");
    await mkdir(join(dir, sub), { recursive: true });
    await writeFile(file, OWNERS);
    const first = await merge(file);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("restart\n");
    expect(JSON.parse(await readFile(file, "utf8"))).toEqual({
      "data-root": "/mnt/docker",
      "insecure-registries": ["10.0.0.5:5000"],
      ...OURS,
    });
    const [backup, ...more] = await backups(sub);
    expect(more).toEqual([]);
    expect(await readFile(join(dir, sub, backup ?? ""), "utf8")).toBe(OWNERS);
    const second = await merge(file);
    expect(second.stdout).toBe("");
    expect(await backups(sub)).toHaveLength(1);
  });

  it.each([
    ["not valid JSON", '{ "data-root": "/mnt/docker", }'],
    ["not a JSON object", '["json-file"]'],
  ])("stops on a file that is %s, naming it, and leaves it as it was", async (what, content) => {
    const sub = `bad-${what.replaceAll(" ", "-")}`;
    const file = join(dir, sub, "daemon.json");
    await mkdir(join(dir, sub), { recursive: true });
    await writeFile(file, content);
    const run = await merge(file);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`${file} is ${what}`);
    expect(run.stderr).toContain("fix or remove it by hand");
    expect(await readFile(file, "utf8")).toBe(content);
    expect(await backups(sub)).toEqual([]);
  });
});
