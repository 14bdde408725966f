import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CONFIG_NAMESPACE, SECRET_KEYS } from "../config.js";
import { hostKeyFingerprint } from "../host-keys.js";
import { type HostRole, hostKey, publicAddress } from "../host-scripts.js";
import { backupRow } from "./backup-row.js";
import type { PreflightOptions } from "./cli-options.js";
import { lookupNames } from "./dns-lookup.js";
import { dnsRows } from "./dns-records.js";
import { FAL_PROBE_PATH, falRow } from "./fal-key.js";
import { probeHost } from "./host-probes.js";
import { type HostContext, hostRows } from "./host-rows.js";
import { requestJson } from "./http-get.js";
import { planRow } from "./plan-row.js";
import type { Redactor } from "./redact.js";
import { type PreflightRow, row } from "./row.js";
import { SshConnectError, SshSession } from "./ssh-session.js";
import { type RunCommand, readSecrets, SECRET_ENV } from "./stack-secrets.js";
import { readStackSettings } from "./stack-settings.js";
import { botApiCall } from "./telegram-api.js";
import { telegramRows } from "./telegram-bot.js";

/** Knobs for tests and for the owner's environment. */
export interface PreflightDeps {
  env: NodeJS.ProcessEnv;
  /** How long getUpdates waits for a second poller to cut it off. @defaultValue 5 */
  pollSeconds?: number;
  /** Runs the Pulumi CLI for the stack's secrets. */
  runCommand?: RunCommand;
  /** Learns every secret read, so that whatever the caller prints (rows, errors) passes through it. */
  redactor: Redactor;
}

const HTTP_TIMEOUT_MS = 15_000;
/**
 * How long getUpdates waits for a second poller to cut it off: our request ends the old bot's pending one,
 * and the old bot's next request (its retry, usually within seconds) ends ours with 409.
 */
export const POLL_SECONDS = 10;

/**
 * A secret as the checks may send it, or the block row that says why not: missing, or shorter than the
 * program itself accepts (config.ts's SECRET_KEYS), so a truncated paste is caught here without sending it.
 */
function usableSecret(
  key: "telegramBotToken" | "falKey",
  value: string | undefined,
  check: string,
  host: string,
): string | PreflightRow {
  const env = SECRET_ENV[key];
  if (value === undefined) {
    return row(
      check,
      host,
      "block",
      `no value: neither the stack's secret ${key} nor ${env} is set`,
      `pulumi config set --secret ${key}`,
    );
  }
  if (value.length < SECRET_KEYS[key]) {
    return row(
      check,
      host,
      "block",
      `${value.length} characters, shorter than any valid one (at least ${SECRET_KEYS[key]}), so it was not sent`,
      `set it again in full: pulumi config set --secret ${key} (or ${env})`,
    );
  }
  return value;
}

/** SSH to one host, every probe over that one connection, the host's rows. */
async function checkHost(
  role: HostRole,
  context: HostContext,
  identityFile: string | undefined,
  socketDir: string,
): Promise<PreflightRow[]> {
  const { config } = context;
  const address = publicAddress(config, role);
  const keyName = `${CONFIG_NAMESPACE}:${role}HostKey`;
  if (identityFile === undefined) {
    return [
      row(
        "ssh",
        role,
        "block",
        "no SSH key: the stack has no sshPrivateKey secret and --identity was not given",
        "pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519 (or --identity ~/.ssh/id_ed25519)",
      ),
    ];
  }
  let session: SshSession;
  try {
    session = await SshSession.open(
      {
        host: address,
        port: config.sshPort,
        user: config.sshUser,
        hostKey: hostKey(config, role),
        identityFile,
      },
      socketDir,
    );
  } catch (error) {
    if (!(error instanceof SshConnectError)) throw error;
    const wrongKey = /host key verification failed/i.test(error.message);
    return [
      row(
        "ssh",
        role,
        "block",
        `${config.sshUser}@${address}:${config.sshPort}: ${error.message}`,
        wrongKey
          ? `the host answered with another key than ${keyName} (${hostKeyFingerprint(hostKey(config, role))}): compare with the provider's console before changing it`
          : "check the address, the port, that the key is in the user's authorized_keys, and that this address is not banned",
      ),
    ];
  }
  try {
    const facts = await probeHost((command) => session.run(command), config.sshUser);
    return [
      row(
        "ssh",
        role,
        "ok",
        `${config.sshUser}@${address}:${config.sshPort}, host key ${hostKeyFingerprint(hostKey(config, role))} as pinned, one connection`,
      ),
      ...hostRows(role, facts, context),
    ];
  } finally {
    await session.close();
  }
}

/**
 * The whole preflight: the stack read as the program reads it (and its plan judged as the program judges
 * it), both hosts over SSH (in parallel, one
 * connection each), DNS of the stack's domains, the Telegram token and the old bot, the fal key. Throws
 * StackSettingsError when the stack cannot be read (before anything is contacted).
 */
export async function runPreflight(options: PreflightOptions, deps: PreflightDeps): Promise<PreflightRow[]> {
  const settings = readStackSettings(options.stack, options.stackDir);
  const { config } = settings;
  const secrets = await readSecrets(
    options.stack,
    options.stackDir,
    deps.env,
    options.identity === undefined,
    deps.runCommand,
  );
  const token = usableSecret("telegramBotToken", secrets.telegramBotToken, "telegram token", "telegram");
  const falKey = usableSecret("falKey", secrets.falKey, "fal key", "fal");
  if (typeof token === "string") deps.redactor.add(token);
  if (typeof falKey === "string") deps.redactor.add(falKey);

  const dir = await mkdtemp(join(tmpdir(), "tapbot-preflight-"));
  try {
    let identityFile = options.identity;
    if (identityFile === undefined && secrets.sshPrivateKey !== undefined) {
      identityFile = join(dir, "id");
      await writeFile(identityFile, secrets.sshPrivateKey, { mode: 0o600 });
      await chmod(identityFile, 0o600);
    }
    const context: HostContext = { config, plan: settings.plan, input: settings.input };
    const falRoot = (deps.env.FAL_QUEUE_URL ?? "https://queue.fal.run").replace(/\/+$/, "");
    const domains = [
      ...new Set([
        config.botDomain,
        config.n8nDomain,
        config.directusDomain,
        config.grafanaDomain,
        config.boardDomain,
      ]),
    ];

    const [automation, data, dns, telegram, fal] = await Promise.all([
      checkHost("automation", context, identityFile, dir),
      checkHost("data", context, identityFile, dir),
      lookupNames(domains, options.dnsServer).then((answers) => dnsRows(answers, config.automationHost)),
      typeof token !== "string"
        ? [token]
        : telegramRows(
            botApiCall(
              token,
              deps.env.TELEGRAM_API_ROOT,
              HTTP_TIMEOUT_MS + (deps.pollSeconds ?? POLL_SECONDS) * 1000,
            ),
            config.botDomain,
            deps.pollSeconds ?? POLL_SECONDS,
          ),
      typeof falKey !== "string"
        ? falKey
        : falRow(() =>
            requestJson("fal", `${falRoot}${FAL_PROBE_PATH}`, {
              headers: { authorization: `Key ${falKey}` },
              timeoutMs: HTTP_TIMEOUT_MS,
            }),
          ),
    ]);
    return [
      planRow(settings.plan, config.allowCapacityErrors),
      backupRow(config, settings.secretKeys),
      ...automation,
      ...data,
      ...dns,
      ...telegram,
      fal,
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
