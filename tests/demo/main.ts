import pc from "picocolors";
import { translate } from "../../app/i18n/index.js";
import { type AppStack, startAppStack } from "../support/app-stack.js";
import type { FalCall } from "../support/fake-fal.js";
import type { ChatEvent } from "../support/fake-telegram.js";
import { sniffImage } from "../support/image-bytes.js";
import { ScriptedUser } from "../support/scripted-user.js";

/**
 * `npm run demo`: one request end to end, for a newcomer, with no Telegram token and no fal key. Starts a
 * throwaway redis-server and PostgreSQL, the loopback fakes of Telegram and fal, then the real bot and worker
 * processes; a scripted user says /start and asks for a picture, and the demo prints what the user sees
 * (acknowledgement with the place in the queue, its edits, the photo) interleaved with what the worker asks
 * fal, with times. Everything it started is stopped and removed before it exits (0 on success).
 */

const prompt = "a lighthouse on a cliff at dawn, watercolour";
const user = { id: 4242, first_name: "Demo", username: "demo_user", language_code: "en" };

/** How long the fake fal keeps a request queued and then works on it. */
const FAL_TIMING = { queueMs: 400, processingMs: 1_500 };

const started = performance.now();
let timelineOrigin: number | undefined;
let stack: AppStack | undefined;

function seconds(fromMs: number, toMs = performance.now()): string {
  return `${((toMs - fromMs) / 1000).toFixed(2)} s`;
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

/** One timeline line: time since the user's first message, who, what. */
function timeline(atEpochMs: number, who: string, text: string): void {
  if (timelineOrigin === undefined) return;
  const t = (atEpochMs - timelineOrigin) / 1000;
  const firstLine = text.split("\n")[0] ?? "";
  const shown = firstLine.length > 90 ? `${firstLine.slice(0, 89)}…` : firstLine;
  say(`  ${pc.dim(`+${t.toFixed(3).padStart(6)} s`)}  ${who.padEnd(22)} ${shown}`);
}

function onTelegramEvent(event: ChatEvent): void {
  if (event.from === "user") {
    timeline(event.at, pc.cyan("user    →"), `"${event.text ?? ""}"`);
  } else if (event.kind === "edited") {
    timeline(event.at, pc.green("bot     ✎ edits ack"), event.text ?? "");
  } else if (event.photoFileId !== undefined) {
    const bytes = stack?.telegram.fileBytes(event.photoFileId);
    const info = bytes === undefined ? undefined : sniffImage(bytes);
    const what =
      info === undefined
        ? "photo"
        : `photo ${info.width}×${info.height} ${info.mime}, ${bytes?.length} bytes`;
    timeline(event.at, pc.green("bot     ▣ sends"), `${pc.bold(what)}: ${event.text ?? ""}`);
  } else if (event.documentFileId !== undefined) {
    timeline(event.at, pc.green("bot     ▤ sends file"), event.text ?? "");
  } else if (event.kind === "sent") {
    timeline(event.at, pc.green("bot     → says"), event.text ?? "");
  }
}

function onFalCall(call: FalCall): void {
  const who = pc.magenta("worker  → fal");
  switch (call.kind) {
    case "submit":
      timeline(call.at, who, `submit ${call.path.slice(1)} → ${call.status} ${call.state ?? ""}`);
      break;
    case "status":
      timeline(call.at, who, `status → ${call.status} ${call.state ?? ""}`);
      break;
    case "result":
      timeline(call.at, who, `result → ${call.status}`);
      break;
    case "cdn":
      timeline(call.at, pc.magenta("worker  ← fal CDN"), `image bytes (${call.status})`);
      break;
    default:
      timeline(call.at, who, `${call.method} ${call.path} → ${call.status}`);
  }
}

async function main(): Promise<void> {
  say(pc.bold("tapbot demo: one request end to end"));
  say(pc.dim("  the real bot and worker processes against loopback fakes of Telegram and fal.ai;"));
  say(pc.dim("  no Telegram token or fal key needed, nothing leaves this machine.\n"));

  stack = await startAppStack({
    telegram: { onEvent: onTelegramEvent },
    fal: { ...FAL_TIMING, onCall: onFalCall },
  });
  say(
    `  redis-server :${stack.redis.port}, PostgreSQL :${stack.postgres.port}, fake Telegram ${stack.telegram.apiRoot}, ` +
      `fake fal ${stack.fal.queueUrl} (${seconds(started)})`,
  );
  const [bot, worker] = await Promise.all([stack.startBot(), stack.startWorker()]);
  say(`  bot (pid ${bot.pid}) and worker (pid ${worker.pid}) ready (${seconds(started)})\n`);

  const demoUser = new ScriptedUser(stack.telegram, user);
  timelineOrigin = Date.now();
  const hello = demoUser.says("/start");
  await demoUser.nextBotMessage(hello, () => true);
  const requestSentAt = Date.now();
  const request = demoUser.says(prompt);
  const ack = await demoUser.replyTo(request, () => true, 5_000);
  const photo = await demoUser.nextPhoto(request, 30_000);
  const done = translate("en", "ack-done");
  await demoUser.replyTo(request, (view) => view.text === done, 5_000);

  const submission = stack.fal.submissions.find((s) => s.input.prompt === prompt);
  const polls = submission === undefined ? 0 : stack.fal.pollsFor(submission.requestId);
  say("");
  say(pc.bold("  summary"));
  say(`    acknowledgement after ${ack.sentAt - requestSentAt} ms: "${ack.sentText ?? ""}"`);
  say(
    `    picture after         ${photo.sentAt - requestSentAt} ms (the fake fal takes ${(FAL_TIMING.queueMs + FAL_TIMING.processingMs) / 1000} s per picture here)`,
  );
  say(
    `    fal status polls      ${polls} (backing off between polls; the worker slot is free while it waits)`,
  );
  const { rows } = await stack.db.query<{ status: string; fal_request_id: string }>(
    "SELECT status, fal_request_id FROM generations ORDER BY created_at DESC LIMIT 1",
  );
  say(`    generations row       status ${rows[0]?.status}, fal request ${rows[0]?.fal_request_id}`);
}

main()
  .then(async () => {
    say(pc.dim("\n  shutting down (SIGTERM to bot and worker, then servers removed)…"));
    await stack?.stop();
    say(pc.green(`  done in ${seconds(started)}`));
    process.exit(0);
  })
  .catch(async (error: unknown) => {
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    if (stack !== undefined) process.stderr.write(`${stack.logs(40)}\n`);
    await stack?.stop();
    process.exit(1);
  });

process.once("SIGINT", () => {
  void stack?.stop().finally(() => process.exit(130));
});
