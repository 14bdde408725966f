import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePlainConfig } from "../../infra/config.js";
import { hostKeyFingerprint, knownHostsLine, parseHostKey } from "../../infra/host-keys.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import {
  installMocks,
  isSecretWrapper,
  type Registered,
  registered,
  resetRegistrations,
  resolve,
  setStackConfig,
} from "./helpers/pulumi-mocks.js";
import { runTool } from "./helpers/run-tool.js";
import { TEST_HOST_KEYS, unparsedStackConfig } from "./helpers/stack-config.js";

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir("host-keys");
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe("a pinned host key", () => {
  it("is read from what ssh-keyscan prints, a .pub file, or the bare key", async () => {
    const key = TEST_HOST_KEYS.automation;
    expect(parseHostKey(`93.189.229.59 ${key}`)).toBe(key);
    expect(parseHostKey(`${key} root@automation`)).toBe(key);
    expect(parseHostKey(`  ${key}\n`)).toBe(key);
  });

  it("refuses anything that is not an ed25519 public key, naming ssh-keyscan in the message", () => {
    for (const bad of [
      "",
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7",
      "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY=",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAIgm36fBkVpjhbExmB9SsoP1Gyx",
      "ssh-ed25519 not-base64!",
    ]) {
      expect(parseHostKey(bad), bad).toBeUndefined();
    }
    expect(() => parsePlainConfig({ ...unparsedStackConfig(), dataHostKey: "ssh-rsa AAAA" })).toThrow(
      /tapbot:dataHostKey: expected the host's ed25519 key as `ssh-keyscan -t ed25519 <host>` prints it/,
    );
    expect(() => parsePlainConfig({ ...unparsedStackConfig(), automationHostKey: undefined })).toThrow(
      /tapbot:automationHostKey is required/,
    );
  });

  it("has the fingerprint ssh-keygen -lf shows, which the owner compares with the server's console", async () => {
    const file = join(dir, "key.pub");
    await writeFile(file, `${TEST_HOST_KEYS.data}\n`);
    const keygen = await runTool("ssh-keygen", ["-l", "-f", file]);
    expect(keygen.code, keygen.stderr).toBe(0);
    expect(keygen.stdout.split(" ")[1]).toBe(hostKeyFingerprint(TEST_HOST_KEYS.data));
  });

  it("becomes a known_hosts line ssh-keygen finds under the host and port ssh looks it up by", async () => {
    const file = join(dir, "known_hosts");
    await writeFile(
      file,
      `${knownHostsLine("203.0.113.10", 22, TEST_HOST_KEYS.automation)}\n${knownHostsLine("203.0.113.11", 2222, TEST_HOST_KEYS.data)}\n`,
    );
    const find = (host: string) => runTool("ssh-keygen", ["-F", host, "-f", file]);
    expect((await find("203.0.113.10")).stdout).toContain(TEST_HOST_KEYS.automation);
    expect((await find("[203.0.113.11]:2222")).stdout).toContain(TEST_HOST_KEYS.data);
    expect((await find("203.0.113.11")).code).not.toBe(0);
    expect(await readFile(file, "utf8")).not.toContain("accept-new");
  });
});

describe("the program under mocks", () => {
  let resources: Registered[];
  beforeAll(async () => {
    await installMocks();
    resetRegistrations();
    setStackConfig(300);
    const program = await import("../../infra/program.js");
    const outputs = await program.deployStack();
    await resolve(outputs.components.backups.installs.data?.urn);
    await Promise.all(Object.values(outputs.components.tunnel.ends).map((end) => resolve(end.urn)));
    resources = [...registered];
  });

  it("pins each host's key in every remote command's connection", () => {
    const commands = resources.filter((r) => r.type === "command:remote:Command");
    expect(commands.length).toBeGreaterThan(10);
    for (const c of commands) {
      // The connection is a secret as a whole (it carries the private key).
      expect(isSecretWrapper(c.inputs.connection), c.name).toBe(true);
      const connection = (c.inputs.connection as { value: { host: string; hostKey?: string } }).value;
      const expected = connection.host === "93.189.229.59" ? TEST_HOST_KEYS.automation : TEST_HOST_KEYS.data;
      expect(connection.hostKey, c.name).toBe(expected);
    }
  });

  it("has the Docker provider's ssh trust only the pinned key, never accepting a new one", () => {
    const providers = resources.filter((r) => r.type === "pulumi:providers:docker");
    expect(providers.map((p) => p.name).sort()).toEqual(["automation-docker", "data-docker"]);
    for (const provider of providers) {
      const opts = JSON.stringify(provider.inputs.sshOpts);
      const key = provider.name.startsWith("automation") ? TEST_HOST_KEYS.automation : TEST_HOST_KEYS.data;
      expect(opts).toContain(`KnownHostsCommand=/bin/echo`);
      expect(opts).toContain(key);
      expect(opts).toContain("StrictHostKeyChecking=yes");
      expect(opts).toContain("UserKnownHostsFile=/dev/null");
      expect(opts).not.toContain("accept-new");
    }
  });
});
