import { chmod, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { strictSshOptions } from "../../infra/host-keys.js";
import { renderSshdDropIn, renderSshdScript, SSHD_DROP_IN_PATH } from "../../infra/render/sshd-drop-in.js";
import { type RunningChild, startChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";
import { requireRoot, runTool } from "./helpers/run-tool.js";
import { plainStackConfig, TEST_HOST_KEYS } from "./helpers/stack-config.js";

const SSHD = "/usr/sbin/sshd";
const config = plainStackConfig();
const options = {
  maxAuthTries: config.sshMaxAuthTries,
  loginGraceTimeSeconds: config.sshLoginGraceTimeSeconds,
  allowUsers: [config.sshUser, ...config.sshAllowUsers],
};
const dropIn = renderSshdDropIn(options);

let dir: string;
let mainConfig: string;

/**
 * A full sshd configuration laid out like Ubuntu 24.04's: the Include of sshd_config.d at the top, a
 * cloud-init drop-in that turns passwords ON, and the distro's own lines after the Include (no HostKey
 * line: the drop-in names the machine's own ed25519 key, as on the servers). The test's client key is
 * authorised from the temp dir, which lives under the world-writable /tmp, hence StrictModes off here.
 */
beforeAll(async () => {
  requireRoot("sshd needs its privilege separation directory /run/sshd and root-owned host keys");
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  dir = await makeTempDir("sshd");
  await mkdir(join(dir, "sshd_config.d"));
  const keygen = await runTool("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "client")]);
  expect(keygen.code, keygen.stderr).toBe(0);
  await cp(join(dir, "client.pub"), join(dir, "authorized_keys"));
  mainConfig = join(dir, "sshd_config");
  await writeFile(
    mainConfig,
    `Include ${dir}/sshd_config.d/*.conf\nKbdInteractiveAuthentication yes\nUsePAM yes\nX11Forwarding yes\nAllowTcpForwarding yes\nAuthorizedKeysFile ${dir}/authorized_keys\nStrictModes no\n`,
  );
  await writeFile(join(dir, "sshd_config.d", "50-cloud-init.conf"), "PasswordAuthentication yes\n");
  await writeFile(
    join(dir, "sshd_config.d", dropIn.path.split("/").at(-1) ?? "missing.conf"),
    dropIn.content,
  );
});
afterAll(async () => {
  if (dir !== undefined) await removeTempDir(dir);
});

/** sshd's effective settings for a connection, as `sshd -T` prints them (lower-case keywords). */
async function effective(): Promise<Map<string, string>> {
  const result = await runTool(SSHD, [
    "-T",
    "-f",
    mainConfig,
    "-C",
    "user=owner,host=client,addr=203.0.113.9",
  ]);
  expect(result.code, result.stderr).toBe(0);
  return new Map(
    result.stdout
      .trim()
      .split("\n")
      .map((line) => {
        const [key = "", ...rest] = line.split(" ");
        return [key, rest.join(" ")] as const;
      }),
  );
}

describe("the sshd drop-in", () => {
  it("passes sshd -t inside a full configuration", async () => {
    const result = await runTool(SSHD, ["-t", "-f", mainConfig]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("wins over cloud-init's PasswordAuthentication yes and the distro's defaults: keys only, no X11", async () => {
    const settings = await effective();
    expect(settings.get("passwordauthentication")).toBe("no");
    expect(settings.get("kbdinteractiveauthentication")).toBe("no");
    expect(settings.get("pubkeyauthentication")).toBe("yes");
    expect(settings.get("authenticationmethods")).toBe("publickey");
    expect(settings.get("permitrootlogin")).toBe("without-password");
    expect(settings.get("x11forwarding")).toBe("no");
    expect(settings.get("maxauthtries")).toBe(String(config.sshMaxAuthTries));
    expect(settings.get("logingracetime")).toBe(String(config.sshLoginGraceTimeSeconds));
  });

  it("admits only the listed users, logs verbosely, drops dead clients and forwards nothing (dev-sec's ssh-baseline)", async () => {
    const settings = await effective();
    expect(settings.get("allowusers")).toBe(config.sshUser);
    expect(settings.get("loglevel")).toBe("VERBOSE");
    expect(settings.get("clientaliveinterval")).toBe("300");
    expect(settings.get("clientalivecountmax")).toBe("3");
    for (const key of ["allowtcpforwarding", "allowagentforwarding", "allowstreamlocalforwarding"]) {
      expect(settings.get(key), key).toBe("no");
    }
    expect(settings.get("permittunnel")).toBe("no");
    expect(settings.get("gatewayports")).toBe("no");
    expect(settings.get("permituserenvironment")).toBe("no");
    expect(settings.get("hostkeyalgorithms")).toBe("ssh-ed25519");
  });

  it("locks root out when the SSH user is someone else", () => {
    const other = renderSshdDropIn({ ...options, allowUsers: ["deploy", "deploy", "alice"] }).content;
    expect(other).toContain("AllowUsers deploy alice\n");
    expect(other).toContain("PermitRootLogin no\n");
  });

  it("sshd -t rejects a broken drop-in, which is what the install script relies on before reloading", async () => {
    const broken = join(dir, "sshd_config.d", "01-broken.conf");
    await writeFile(broken, "MaxAuthTries many\n");
    try {
      const result = await runTool(SSHD, ["-t", "-f", mainConfig]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/MaxAuthTries|bad number|integer/i);
    } finally {
      await rm(broken);
    }
  });
});

/**
 * The rendered configuration served by a real sshd on loopback, with this machine's own ed25519 host key
 * (the one the drop-in names, as on the servers), judged by ssh-audit and reached by the OpenSSH client
 * with the options the Docker provider uses.
 */
describe("the rendered sshd, running", () => {
  let sshd: RunningChild;
  let port: number;
  let hostKey: string;

  beforeAll(async () => {
    port = await freePort();
    hostKey = (await readFile("/etc/ssh/ssh_host_ed25519_key.pub", "utf8")).split(" ").slice(0, 2).join(" ");
    sshd = startChild(SSHD, [
      "-D",
      "-e",
      "-f",
      mainConfig,
      "-o",
      `Port=${port}`,
      "-o",
      "ListenAddress=127.0.0.1",
      "-o",
      "PidFile=none",
    ]);
    await waitUntil(
      async () =>
        (await runTool("ssh-keyscan", ["-p", String(port), "127.0.0.1"])).stdout.includes("ssh-ed25519")
          ? true
          : undefined,
      {
        timeoutMs: 10_000,
        describe: () => `sshd listening on ${port}:\n${sshd.logTail(20)}`,
      },
    );
  });
  afterAll(async () => {
    await sshd?.stop("SIGTERM", 5_000);
  });

  /** Runs `command` over ssh as `user` with the client key and the provider's strict host-key options. */
  const ssh = (user: string, pinned: string, extra: string[] = [], command = "echo connected") =>
    runTool("ssh", [
      "-F",
      "/dev/null",
      "-i",
      join(dir, "client"),
      "-o",
      "IdentitiesOnly=yes",
      "-p",
      String(port),
      ...strictSshOptions("127.0.0.1", port, pinned),
      ...extra,
      `${user}@127.0.0.1`,
      command,
    ]);

  it("ssh-audit 2.5.0 finds nothing to fail and nothing to warn about", async () => {
    const audit = await runTool("ssh-audit", ["-n", "-p", String(port), "127.0.0.1"]);
    expect(audit.stdout).toMatch(/\(key\) ssh-ed25519/);
    const flagged = audit.stdout.split("\n").filter((line) => /\[(fail|warn)\]/.test(line));
    // One exception: kex-strict-s-v00@openssh.com is not an algorithm but the marker of OpenSSH's fix for
    // Terrapin (CVE-2023-48795), which Debian's and Ubuntu's sshd always advertise and which ssh-audit 2.5.0
    // predates ("unknown algorithm"). It cannot be configured away, and should not be.
    const terrapinFix = /^\(kex\) kex-strict-s-v00@openssh\.com\s+-- \[warn\] unknown algorithm$/;
    expect(
      flagged.filter((line) => !terrapinFix.test(line)),
      audit.stdout,
    ).toEqual([]);
  }, 30_000);

  it("lets the SSH user in with its key, through the Docker provider's options pinning the host key", async () => {
    const result = await ssh(config.sshUser, hostKey);
    expect(result.stderr).not.toMatch(/verification failed/i);
    expect(result.stdout.trim()).toBe("connected");
    expect(result.code).toBe(0);
  });

  it("refuses a host that answers with another key than the pinned one, before anything runs", async () => {
    const result = await ssh(config.sshUser, TEST_HOST_KEYS.data);
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/Host key verification failed/);
    expect(result.stdout).toBe("");
  });

  it("refuses an account not in AllowUsers even with an authorised key", async () => {
    const result = await ssh("nobody", hostKey);
    expect(result.code).toBe(255);
    expect(result.stdout).toBe("");
    await waitUntil(async () => (/not listed in AllowUsers/.test(sshd.logTail(50)) ? true : undefined), {
      timeoutMs: 5_000,
      describe: () => `sshd logging the refusal:\n${sshd.logTail(20)}`,
    });
  });

  it("refuses port forwarding", async () => {
    const result = await ssh(config.sshUser, hostKey, [
      "-o",
      "ExitOnForwardFailure=yes",
      "-R",
      "0:127.0.0.1:9",
    ]);
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/forwarding failed/i);
  });
});

/**
 * The install script itself, run against a copy of this machine's /etc/ssh bind-mounted over /etc/ssh in a
 * private mount namespace, with a `systemctl` on PATH that only records its calls.
 */
describe("the sshd install script", () => {
  let sandbox: string;

  beforeAll(async () => {
    requireRoot("the script runs in a private mount namespace with a copy of /etc/ssh over /etc/ssh");
    sandbox = await makeTempDir("sshd-script");
    await cp("/etc/ssh", join(sandbox, "ssh"), { recursive: true });
    await mkdir(join(sandbox, "bin"));
    await writeFile(join(sandbox, "bin", "systemctl"), `#!/bin/sh\necho "$@" >>${sandbox}/systemctl.log\n`);
    await chmod(join(sandbox, "bin", "systemctl"), 0o755);
    await writeFile(join(sandbox, "install.sh"), renderSshdScript(options));
  });
  afterAll(async () => {
    if (sandbox !== undefined) await removeTempDir(sandbox);
  });

  const run = () =>
    runTool("unshare", [
      "--mount",
      "--propagation",
      "private",
      "bash",
      "-c",
      `mount --bind ${sandbox}/ssh /etc/ssh && PATH=${sandbox}/bin:$PATH bash ${sandbox}/install.sh`,
    ]);
  const reloads = async () =>
    (await readFile(join(sandbox, "systemctl.log"), "utf8").catch(() => ""))
      .split("\n")
      .filter((l) => l.includes("reload"));

  it("installs the drop-in, validates and reloads once; a second run changes nothing and does not reload", async () => {
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    expect(await readFile(join(sandbox, "ssh", SSHD_DROP_IN_PATH.replace("/etc/ssh/", "")), "utf8")).toBe(
      renderSshdDropIn(options).content,
    );
    expect(await reloads()).toEqual(["try-reload-or-restart ssh.service"]);
    const second = await run();
    expect(second.code, second.stderr).toBe(0);
    expect(await reloads()).toHaveLength(1);
  });

  it("when sshd -t fails, puts the previous file back, exits non-zero and never reloads", async () => {
    const dropIn = join(sandbox, "ssh", SSHD_DROP_IN_PATH.replace("/etc/ssh/", ""));
    const previous = "# the owner's previous drop-in\nMaxAuthTries 4\n";
    await writeFile(dropIn, previous);
    await writeFile(join(sandbox, "ssh", "sshd_config.d", "99-broken.conf"), "NoSuchKeyword yes\n");
    const before = (await reloads()).length;
    const result = await run();
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("sshd -t rejected the new drop-in");
    expect(await readFile(dropIn, "utf8")).toBe(previous);
    expect(await reloads()).toHaveLength(before);
  });
});
