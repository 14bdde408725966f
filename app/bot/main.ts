import { loadConfig } from "../config.js";
import { runProcess } from "../run-process.js";
import { startBotProcess } from "./bot-process.js";

/**
 * `npm run bot` (`node dist/app/bot/main.js` in the image): the Telegram bot, configured from the environment
 * alone; logs "bot ready" once updates flow. SIGTERM or SIGINT stops it gracefully (see
 * {@link startBotProcess}); a second signal exits at once.
 */
runProcess("bot", startBotProcess, loadConfig);
