import { runProcess } from "../run-process.js";
import { loadBoardConfig } from "./board-config.js";
import { startBoardProcess } from "./board-process.js";

/**
 * `npm run board` (`node dist/app/board/main.js` in the image): the queue dashboard, configured from the
 * environment alone (see board-config.ts); logs "board ready" once it listens. SIGTERM or SIGINT stops it.
 */
runProcess("board", startBoardProcess, loadBoardConfig);
