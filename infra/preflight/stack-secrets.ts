import { spawn } from "node:child_process";
import { z } from "zod";
import { CONFIG_NAMESPACE } from "../config.js";
import { StackSettingsError } from "./stack-settings.js";

/** The secrets preflight uses; each may be missing (its checks then block and say how to set it). */
export interface PreflightSecrets {
  telegramBotToken?: string;
  falKey?: string;
  /** The private key's text (from the stack); undefined when `--identity` names a file instead. */
  sshPrivateKey?: string;
}

/** Where each secret can come from besides the stack: the app's own variable names. */
export const SECRET_ENV = { telegramBotToken: "TELEGRAM_BOT_TOKEN", falKey: "FAL_KEY" } as const;

/**
 * `pulumi config --show-secrets --json --stack <name>`: every key with its value (text) and whether it is a
 * secret; the same command and shape (ConfigMap of ConfigValue) as Pulumi's own Automation API getAllConfig.
 */
const pulumiConfigSchema = z.record(
  z.string(),
  z.object({ value: z.unknown().optional(), secret: z.boolean().optional() }),
);

/** Runs a command and gives its exit code and output; the output is never printed by this module. */
export type RunCommand = (
  command: string,
  args: string[],
  cwd: string,
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/** The default {@link RunCommand}: spawn without a shell. */
export const runCommand: RunCommand = (command, args, cwd) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", (error) => reject(error));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });

/**
 * The secrets preflight needs: the environment first (TELEGRAM_BOT_TOKEN, FAL_KEY, as the app reads them),
 * then the stack's own secrets through the Pulumi CLI (`pulumi config --show-secrets --json`, in the stack's
 * directory, with the owner's PULUMI_CONFIG_PASSPHRASE), the same values `pulumi up` hands the program. The
 * CLI runs only when the environment and --identity leave something to read. Its output is parsed here and
 * never printed; a failure says how to proceed without naming any value.
 */
export async function readSecrets(
  stack: string,
  stackDir: string,
  env: NodeJS.ProcessEnv,
  needsSshKey: boolean,
  run: RunCommand = runCommand,
): Promise<PreflightSecrets> {
  const fromEnv = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const secrets: PreflightSecrets = {};
  const token = fromEnv(SECRET_ENV.telegramBotToken);
  const falKey = fromEnv(SECRET_ENV.falKey);
  if (token !== undefined) secrets.telegramBotToken = token;
  if (falKey !== undefined) secrets.falKey = falKey;
  if (token !== undefined && falKey !== undefined && !needsSshKey) return secrets;

  let result: Awaited<ReturnType<RunCommand>>;
  try {
    result = await run("pulumi", ["config", "--show-secrets", "--json", "--stack", stack], stackDir);
  } catch (error) {
    throw new StackSettingsError(
      `cannot read the stack's secrets: the Pulumi CLI did not start (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      [
        "run preflight through npm (`npm run preflight -- …`), which puts node_modules/.bin/pulumi on PATH,",
        `or set ${SECRET_ENV.telegramBotToken} and ${SECRET_ENV.falKey} and give --identity <your SSH key file>`,
      ],
    );
  }
  if (result.code !== 0) {
    const reason = result.stderr.split("\n").find((line) => line.trim() !== "") ?? `exit ${result.code}`;
    throw new StackSettingsError(`cannot read the stack's secrets: pulumi config failed: ${reason.trim()}`, [
      "set PULUMI_CONFIG_PASSPHRASE (the stack's passphrase) and run `npx pulumi login --local` first,",
      `or set ${SECRET_ENV.telegramBotToken} and ${SECRET_ENV.falKey} and give --identity <your SSH key file>`,
    ]);
  }
  let parsed: z.infer<typeof pulumiConfigSchema>;
  try {
    parsed = pulumiConfigSchema.parse(JSON.parse(result.stdout));
  } catch {
    throw new StackSettingsError(
      "cannot read the stack's secrets: `pulumi config --json` printed something else than its JSON",
    );
  }
  const stackValue = (key: string) => {
    const value = parsed[`${CONFIG_NAMESPACE}:${key}`]?.value;
    return typeof value === "string" && value.trim() !== "" ? value : undefined;
  };
  const stackToken = stackValue("telegramBotToken");
  const stackFal = stackValue("falKey");
  const stackSsh = stackValue("sshPrivateKey");
  if (secrets.telegramBotToken === undefined && stackToken !== undefined)
    secrets.telegramBotToken = stackToken.trim();
  if (secrets.falKey === undefined && stackFal !== undefined) secrets.falKey = stackFal.trim();
  if (needsSshKey && stackSsh !== undefined)
    secrets.sshPrivateKey = stackSsh.endsWith("\n") ? stackSsh : `${stackSsh}\n`;
  return secrets;
}
