/**
 * `npm run test:containers`: the tests that need a Docker engine (vitest.containers.config.ts), kept out of
 * `npm test` so that the netns UFW tests there never share a machine state with an engine. First it starts
 * one throwaway engine in a namespace of its own: where none can start (not root, no docker.io, no
 * namespaces, a kernel dockerd refuses), it prints one line saying why and that the lane is skipped, and
 * exits 0; otherwise vitest's exit code is the lane's. Extra arguments go to vitest (a file filter, say).
 */
import { spawn } from "node:child_process";
import { DockerdUnavailableError, startDockerd } from "./support/dockerd.js";

async function unavailableReason(): Promise<string | undefined> {
  try {
    const engine = await startDockerd();
    await engine.stop();
    return undefined;
  } catch (error) {
    if (error instanceof DockerdUnavailableError) return error.message.split("\n")[0];
    throw error;
  }
}

const reason = await unavailableReason();
if (reason !== undefined) {
  console.log(`containers lane skipped: no Docker engine can start here (${reason})`);
  process.exit(0);
}
const vitest = spawn(
  process.execPath,
  [
    "node_modules/vitest/vitest.mjs",
    "run",
    "--config",
    "vitest.containers.config.ts",
    ...process.argv.slice(2),
  ],
  { stdio: "inherit" },
);
vitest.once("exit", (code, signal) => {
  process.exit(code ?? (signal === null ? 1 : 128));
});
