import { spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { type RunCommand, readSecrets } from "../../infra/preflight/stack-secrets.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { rawStackConfig } from "./helpers/stack-config.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Runs `npm run preflight -- <args>` as the owner would (through tsx, from the repository root). */
function preflight(args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(join(REPO_ROOT, "node_modules/.bin/tsx"), ["infra/preflight/main.ts", ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, TELEGRAM_BOT_TOKEN: "", FAL_KEY: "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("close", (code) => done({ code, stdout, stderr }));
  });
}

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir("preflight-cli");
  const config: Record<string, unknown> = { ...rawStackConfig(300) };
  config["tapbot:capacity"] = {
    ...JSON.parse(config["tapbot:capacity"] as string),
    calibration: join(REPO_ROOT, "capacity/calibration.json"),
  };
  await writeFile(join(dir, "Pulumi.ready.yaml"), stringify({ config }));
});
afterAll(async () => {
  if (dir !== undefined) await removeTempDir(dir);
});

describe("npm run preflight: usage", () => {
  it("--help lists every option and what the exit codes mean (exit 0)", async () => {
    const result = await preflight(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: npm run preflight -- --stack <name> \[options\]$/m);
    for (const flag of [
      "--stack <name>",
      "--stack-dir <dir>",
      "--identity <file>",
      "--dns-server <ip[:port]>",
    ]) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toContain("exits 1 when a row says block, 0 otherwise, 2 on bad usage");
  }, 120_000);

  it("names an unknown flag and what is allowed (exit 2), and a bare stack name gets a hint", async () => {
    const [unknown, bare, missing, file] = await Promise.all([
      preflight(["--stack", "prod", "--host", "1.2.3.4"]),
      preflight(["prod"]),
      preflight([]),
      preflight(["--stack", "Pulumi.prod.yaml"]),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      "preflight: unknown option --host; allowed: --stack, --stack-dir, --identity, --dns-server, --help",
    );
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('unexpected argument "prod"');
    expect(bare.stderr).toContain("did you mean --stack prod?");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--stack <name> is required");
    expect(file.code).toBe(2);
    expect(file.stderr).toContain("for that file give --stack prod\n");
    expect(unknown.stdout + bare.stdout + missing.stdout + file.stdout).toBe("");
  }, 120_000);

  it("the owner's Pulumi.prod.yaml as committed: every key still to set, before anything is contacted (exit 2)", async () => {
    const result = await preflight(["--stack", "prod"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Pulumi.prod.yaml: the stack is not ready for `pulumi up`");
    for (const key of ["automationHostKey", "dataHostKey", "adminAllowIps", "alertTelegramChatId"]) {
      expect(result.stderr).toMatch(new RegExp(`^ {2}- tapbot:${key} is required`, "m"));
    }
    const other = await preflight(["--stack", "staging"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/cannot read the stack file .*Pulumi\.staging\.yaml: no such file/);
  }, 120_000);

  it("a stack file with a key given twice, or that is no file, is named before anything is contacted (exit 2)", async () => {
    await writeFile(join(dir, "Pulumi.twice.yaml"), "config:\n  tapbot:users: 300\n  tapbot:users: 400\n");
    const twice = await preflight(["--stack", "twice", "--stack-dir", dir]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain(
      `${join(dir, "Pulumi.twice.yaml")}: config.tapbot:users is given twice; a key may appear once in a mapping`,
    );
    await mkdir(join(dir, "Pulumi.folder.yaml"));
    const folder = await preflight(["--stack", "folder", "--stack-dir", dir]);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(
      `cannot read the stack file ${join(dir, "Pulumi.folder.yaml")}: it is a directory`,
    );
  }, 120_000);

  it("without the secrets in the environment and no Pulumi CLI to read them, says how to give them (exit 2)", async () => {
    const result = await preflight(["--stack", "ready", "--stack-dir", dir], { PATH: "/usr/bin:/bin" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("cannot read the stack's secrets: the Pulumi CLI did not start (ENOENT)");
    expect(result.stderr).toContain(
      "or set TELEGRAM_BOT_TOKEN and FAL_KEY and give --identity <your SSH key file>",
    );
  }, 120_000);
});

describe("the stack's secrets", () => {
  /** What `pulumi config --show-secrets --json` prints for a stack with these values. */
  const pulumiPrints =
    (values: Record<string, string>, code = 0, stderr = ""): RunCommand =>
    async () => ({
      code,
      stdout: JSON.stringify(
        Object.fromEntries(
          Object.entries(values).map(([k, v]) => [`tapbot:${k}`, { value: v, secret: true }]),
        ),
      ),
      stderr,
    });

  it("takes the environment first, the stack for the rest, and the SSH key only when --identity is not given", async () => {
    const stack = {
      telegramBotToken: "111:stack-token-xxxxxxxx",
      falKey: "stack:fal-key",
      sshPrivateKey: "-----BEGIN…",
    };
    expect(await readSecrets("prod", ".", { FAL_KEY: "env:fal-key" }, true, pulumiPrints(stack))).toEqual({
      telegramBotToken: "111:stack-token-xxxxxxxx",
      falKey: "env:fal-key",
      sshPrivateKey: "-----BEGIN…\n",
    });
    expect(await readSecrets("prod", ".", {}, false, pulumiPrints(stack))).toEqual({
      telegramBotToken: "111:stack-token-xxxxxxxx",
      falKey: "stack:fal-key",
    });
  });

  it("does not run Pulumi at all when the environment and --identity give everything", async () => {
    let ran = false;
    const run: RunCommand = async () => {
      ran = true;
      return { code: 0, stdout: "{}", stderr: "" };
    };
    await readSecrets("prod", ".", { TELEGRAM_BOT_TOKEN: "1:t", FAL_KEY: "k" }, false, run);
    expect(ran).toBe(false);
  });

  it("a wrong passphrase names the fix, not a value", async () => {
    const failing = pulumiPrints({}, 255, "error: getting secrets manager: incorrect passphrase\n");
    await expect(readSecrets("prod", ".", {}, true, failing)).rejects.toMatchObject({
      message:
        "cannot read the stack's secrets: pulumi config failed: error: getting secrets manager: incorrect passphrase",
      details: expect.arrayContaining([expect.stringContaining("set PULUMI_CONFIG_PASSPHRASE")]),
    });
  });
});
