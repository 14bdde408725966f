import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FAIL2BAN_LOG_TARGET,
  RECIDIVE_FILTER,
  RECIDIVE_FILTER_FILE,
  renderJailLocal,
} from "../../infra/render/fail2ban-jail.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool, type ToolResult } from "./helpers/run-tool.js";
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

/**
 * A copy of the installed /etc/fail2ban with the rendered files in it (jail.local, the log target drop-in,
 * the recidive filter): the host's layout, in a temp dir.
 */
beforeAll(async () => {
  dir = await makeTempDir("fail2ban");
  confDir = join(dir, "fail2ban");
  await cp("/etc/fail2ban", confDir, { recursive: true });
  await writeFile(join(confDir, "jail.local"), jail.content);
  for (const file of [FAIL2BAN_LOG_TARGET, RECIDIVE_FILTER_FILE]) {
    await writeFile(join(confDir, file.path.replace("/etc/fail2ban/", "")), file.content);
  }
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

  it("configures both jails from config on the journal, banning through ufw and Docker's DOCKER-USER chain", async () => {
    const dump = await runTool("fail2ban-client", ["-c", confDir, "-d"]);
    expect(dump.code, dump.stderr).toBe(0);
    const lines = dump.stdout.split("\n");
    for (const expected of [
      `['set', 'sshd', 'bantime', '${config.fail2banBantime}']`,
      `['set', 'sshd', 'findtime', '${config.fail2banFindtime}']`,
      `['set', 'sshd', 'maxretry', ${config.fail2banMaxretry}]`,
      "['set', 'sshd', 'addaction', 'ufw']",
      "['set', 'sshd', 'addaction', 'iptables-allports-docker']",
      "['add', 'sshd', 'systemd']",
      "['set', 'logtarget', 'SYSTEMD-JOURNAL']",
      "['add', 'recidive', 'systemd']",
      "['set', 'recidive', 'addjournalmatch', '_SYSTEMD_UNIT=fail2ban.service']",
      `['set', 'recidive', 'bantime', '${config.fail2banRecidiveBantime}']`,
      "['set', 'recidive', 'addaction', 'ufw']",
      "['set', 'recidive', 'addaction', 'iptables-allports-docker']",
    ]) {
      expect(lines, expected).toContain(expected);
    }
    // The DOCKER-USER action: every protocol and port of a banned address, ahead of Docker's own rules.
    for (const jailName of ["sshd", "recidive"]) {
      const docker = lines.find((l) =>
        l.startsWith(`['multi-set', '${jailName}', 'action', 'iptables-allports-docker'`),
      );
      expect(docker, jailName).toContain("['chain', 'DOCKER-USER']");
      expect(docker, jailName).toContain("['protocol', 'all']");
      expect(docker, jailName).toContain(`<iptables> -I DOCKER-USER -p $proto -j f2b-${jailName}-docker`);
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

/**
 * Ban notices as fail2ban writes them to the journal, made by fail2ban's own logging code with its
 * journal target (python-systemd's sender replaced by one that returns the fields), for `[jail, verb, ip]`
 * the way its actions log them (`[%s] %sBan %s`).
 */
const JOURNAL_ENTRIES = `
import json, logging, sys
import systemd.journal as journal
entries = []
def capture(MESSAGE, **fields):
    entries.append({"MESSAGE": MESSAGE, "PRIORITY": str(fields["PRIORITY"]), "SYSLOG_IDENTIFIER": fields["SYSLOG_IDENTIFIER"]})
journal.JournalHandler.__init__.__defaults__ = (logging.NOTSET, capture)
from fail2ban.server.server import Server
from fail2ban.helpers import getLogger
server = Server(daemon=False)
server.setLogLevel("INFO")
server.setLogTarget("SYSTEMD-JOURNAL")
log = getLogger("fail2ban.actions")
for jail, verb, ip in json.loads(sys.argv[1]):
    log.notice("[%s] %s %s", jail, verb, ip)
print(json.dumps(entries))
`;

describe("the recidive jail on the journal", () => {
  let journalLines: string;
  let entries: { MESSAGE: string; PRIORITY: string; SYSLOG_IDENTIFIER: string }[];

  beforeAll(async () => {
    const notices = [
      ["sshd", "Ban", "203.0.113.20"],
      ["sshd", "Ban", "203.0.113.21"],
      ["sshd", "Unban", "203.0.113.22"],
      ["sshd", "Restore Ban", "203.0.113.23"],
      ["recidive", "Ban", "203.0.113.24"],
    ];
    const result = await runTool("/usr/bin/python3", ["-c", JOURNAL_ENTRIES, JSON.stringify(notices)]);
    expect(result.code, result.stderr).toBe(0);
    entries = JSON.parse(result.stdout);
    // As `journalctl -o short` shows them, which is also the line fail2ban's systemd backend hands the filter
    // (host, SYSLOG_IDENTIFIER[pid]: MESSAGE) after the entry's time.
    journalLines = entries
      .map((e, i) => `Nov 30 06:00:0${i} automation ${e.SYSLOG_IDENTIFIER}[812]: ${e.MESSAGE}\n`)
      .join("");
    await writeFile(join(dir, "journal.log"), journalLines);
  });

  const regex = (filter: string) =>
    runTool("fail2ban-regex", ["-c", confDir, "-o", "ip", join(dir, "journal.log"), filter]);

  it("is what fail2ban writes: the bare message at PRIORITY=4, which the packaged filter can never match", async () => {
    expect(entries[0]).toEqual({
      MESSAGE: "[sshd] Ban 203.0.113.20",
      PRIORITY: "4",
      SYSLOG_IDENTIFIER: "fail2ban",
    });
    const packaged = await regex("recidive");
    expect(packaged.code, packaged.stderr).toBe(0);
    expect(packaged.stdout.trim()).toBe("");
    expect(RECIDIVE_FILTER_FILE.content).not.toMatch(/journalmatch.*PRIORITY/);
  });

  it("counts every other jail's ban, not unbans, restored bans or its own", async () => {
    const ours = await regex(RECIDIVE_FILTER);
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout.trim().split("\n")).toEqual(["203.0.113.20", "203.0.113.21"]);
  });

  it("also matches the same notice as fail2ban writes it to a file or syslog (with its level word)", async () => {
    await writeFile(
      join(dir, "file.log"),
      "Nov 30 06:00:09 automation fail2ban.actions[812]: NOTICE  [sshd] Ban 203.0.113.30\n",
    );
    const result = await runTool("fail2ban-regex", [
      "-c",
      confDir,
      "-o",
      "ip",
      join(dir, "file.log"),
      RECIDIVE_FILTER,
    ]);
    expect(result.stdout.trim()).toBe("203.0.113.30");
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
