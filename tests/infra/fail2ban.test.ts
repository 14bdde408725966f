import { access, cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderJailLocal } from "../../infra/render/fail2ban-jail.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { requireRoot, runTool, type ToolResult } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";

const config = plainStackConfig();
const jail = renderJailLocal({
  bantime: config.fail2banBantime,
  findtime: config.fail2banFindtime,
  maxretry: config.fail2banMaxretry,
  recidiveBantime: config.fail2banRecidiveBantime,
  ignoreIps: [config.dataHost],
});

/** What sshd 9.6 (Ubuntu 24.04) logs when scanners try a keys-only server, plus one good login. */
const AUTH_LOG = `Nov 20 22:00:01 automation sshd[1201]: Invalid user admin from 203.0.113.5 port 51234
Nov 20 22:00:02 automation sshd[1201]: Connection closed by invalid user admin 203.0.113.5 port 51234 [preauth]
Nov 20 22:00:03 automation sshd[1203]: Connection closed by authenticating user root 203.0.113.6 port 40022 [preauth]
Nov 20 22:00:04 automation sshd[1205]: Disconnected from authenticating user root 203.0.113.7 port 40100 [preauth]
Nov 20 22:00:05 automation sshd[1207]: error: maximum authentication attempts exceeded for root from 203.0.113.8 port 40200 ssh2 [preauth]
Nov 20 22:00:06 automation sshd[1209]: Accepted publickey for owner from 198.51.100.10 port 50000 ssh2: ED25519 SHA256:abc
`;

let dir: string;
let confDir: string;

/** A copy of the installed /etc/fail2ban with the rendered jail.local in it: the host's layout, in a temp dir. */
beforeAll(async () => {
  requireRoot("the recidive jail reads /var/log/fail2ban.log, which this test creates when missing");
  dir = await makeTempDir("fail2ban");
  confDir = join(dir, "fail2ban");
  await cp("/etc/fail2ban", confDir, { recursive: true });
  await writeFile(join(confDir, "jail.local"), jail.content);
  await access("/var/log/fail2ban.log").catch(() => writeFile("/var/log/fail2ban.log", ""));
  await writeFile(join(dir, "auth.log"), AUTH_LOG);
});
afterAll(async () => {
  if (dir !== undefined) await removeTempDir(dir);
});

describe("jail.local", () => {
  it("passes fail2ban's configuration test", async () => {
    const result = await runTool("fail2ban-client", ["-c", confDir, "-t"]);
    expect(result.stdout + result.stderr).toContain("OK: configuration test is successful");
    expect(result.code).toBe(0);
  });

  it("configures the sshd jail from config (journal, ufw) and a week-long recidive jail", async () => {
    const dump = await runTool("fail2ban-client", ["-c", confDir, "-d"]);
    expect(dump.code, dump.stderr).toBe(0);
    const lines = dump.stdout.split("\n");
    for (const expected of [
      `['set', 'sshd', 'bantime', '${config.fail2banBantime}']`,
      `['set', 'sshd', 'findtime', '${config.fail2banFindtime}']`,
      `['set', 'sshd', 'maxretry', ${config.fail2banMaxretry}]`,
      "['set', 'sshd', 'addaction', 'ufw']",
      "['add', 'sshd', 'systemd']",
      `['set', 'recidive', 'bantime', '${config.fail2banRecidiveBantime}']`,
      "['set', 'recidive', 'addaction', 'ufw']",
    ]) {
      expect(lines, expected).toContain(expected);
    }
    expect(dump.stdout).toContain(`'addignoreip', '127.0.0.1/8', '::1', '${config.dataHost}'`);
  });

  it("fails the configuration test when a jail is broken, so the passing test above means something", async () => {
    const brokenDir = join(dir, "broken");
    await cp(confDir, brokenDir, { recursive: true });
    await writeFile(
      join(brokenDir, "jail.local"),
      `${jail.content}\n[sshd-typo]\nenabled = true\nfilter = no-such-filter\n`,
    );
    const result = await runTool("fail2ban-client", ["-c", brokenDir, "-t"]);
    expect(result.code).not.toBe(0);
  });
});

/** fail2ban-regex over the sample auth.log with the sshd filter in `mode`: its result and the addresses it matched. */
async function matchedIps(mode: string | undefined): Promise<{ result: ToolResult; ips: Set<string> }> {
  const result = await runTool("fail2ban-regex", [
    "-c",
    confDir,
    "-o",
    "ip",
    join(dir, "auth.log"),
    `sshd[mode=${mode}]`,
  ]);
  return { result, ips: new Set(result.stdout.trim().split("\n")) };
}

describe("the sshd filter in the jail's mode", () => {
  const mode = /^mode = (\w+)$/m.exec(jail.content)?.[1];

  it("matches every failed login of a keys-only server and ignores the accepted key", async () => {
    expect(mode).toBe("aggressive");
    const { result, ips: banned } = await matchedIps(mode);
    expect(result.code, result.stderr).toBe(0);
    expect([...banned].sort()).toEqual(["203.0.113.5", "203.0.113.6", "203.0.113.7", "203.0.113.8"]);
    expect(banned.has("198.51.100.10")).toBe(false);
  });

  it("needs aggressive mode: the normal mode misses the preauth disconnects of key probes", async () => {
    const { ips: banned } = await matchedIps("normal");
    expect(banned.has("203.0.113.6")).toBe(false);
  });
});
