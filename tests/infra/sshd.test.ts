import { chmod, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderSshdDropIn, renderSshdScript, SSHD_DROP_IN_PATH } from "../../infra/render/sshd-drop-in.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { requireRoot, runTool } from "./helpers/run-tool.js";
import { plainStackConfig } from "./helpers/stack-config.js";

const SSHD = "/usr/sbin/sshd";
const config = plainStackConfig();
const dropIn = renderSshdDropIn({
  maxAuthTries: config.sshMaxAuthTries,
  loginGraceTimeSeconds: config.sshLoginGraceTimeSeconds,
});

let dir: string;
let mainConfig: string;

/**
 * A full sshd configuration laid out like Ubuntu 24.04's: the Include of sshd_config.d at the top, a
 * cloud-init drop-in that turns passwords ON, and the distro's own lines after the Include.
 */
beforeAll(async () => {
  requireRoot("sshd -t needs its privilege separation directory /run/sshd and root-owned host keys");
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  dir = await makeTempDir("sshd");
  await mkdir(join(dir, "sshd_config.d"));
  const keygen = await runTool("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-f",
    join(dir, "host_ed25519"),
  ]);
  expect(keygen.code, keygen.stderr).toBe(0);
  mainConfig = join(dir, "sshd_config");
  await writeFile(
    mainConfig,
    `Include ${dir}/sshd_config.d/*.conf\nHostKey ${dir}/host_ed25519\nKbdInteractiveAuthentication yes\nUsePAM yes\nX11Forwarding yes\n`,
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
 * The install script itself, run against a copy of this machine's /etc/ssh bind-mounted over /etc/ssh in a
 * private mount namespace, with a `systemctl` on PATH that only records its calls.
 */
describe("the sshd install script", () => {
  const options = {
    maxAuthTries: config.sshMaxAuthTries,
    loginGraceTimeSeconds: config.sshLoginGraceTimeSeconds,
  };
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
