import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { runTool } from "../../infra/helpers/run-tool.js";
import { onExitCleanup } from "../../support/exit-cleanup.js";
import type { Dockerd } from "./dockerd.js";

/** A veth between the machine's namespace and an engine's; see {@link engineUplink}. */
export interface EngineUplink {
  /** The machine's end: its name and address. */
  readonly outside: string;
  readonly hostAddress: string;
  /** The engine's end, in its namespace. */
  readonly engineAddress: string;
  /** Deletes the link (both ends, and the routes through it). */
  remove(): Promise<void>;
}

export function must(result: { code: number | null; stderr: string }, what: string): void {
  if (result.code !== 0) throw new Error(`${what} failed: ${result.stderr.trim()}`);
}

/**
 * A veth from the machine's namespace into `engine`'s, on a random /30 of `subnetBase` (`10.216` gives
 * 10.216.x.y/30), both ends up and addressed. `prefix` names the two ends (`<prefix>x…` outside, `<prefix>y…`
 * inside, with the engine's namespace id), so that two kinds of link to one engine never collide. Removed by
 * {@link EngineUplink.remove}, or at the process's exit.
 */
export async function engineUplink(
  engine: Dockerd,
  prefix: string,
  subnetBase: string,
): Promise<EngineUplink> {
  const id = engine.netns.slice(-6);
  const outside = `${prefix}x${id}`;
  const inside = `${prefix}y${id}`;
  const subnet = `${subnetBase}.${randomInt(0, 256)}`;
  const block = randomInt(0, 64) * 4;
  const hostAddress = `${subnet}.${block + 1}`;
  const engineAddress = `${subnet}.${block + 2}`;
  must(
    await runTool("ip", [
      "link",
      "add",
      outside,
      "type",
      "veth",
      "peer",
      "name",
      inside,
      "netns",
      engine.netns,
    ]),
    `creating the link ${outside}`,
  );
  const forget = onExitCleanup(() => spawnSync("ip", ["link", "del", outside]));
  must(await runTool("ip", ["addr", "add", `${hostAddress}/30`, "dev", outside]), `addressing ${outside}`);
  must(await runTool("ip", ["link", "set", outside, "up"]), `raising ${outside}`);
  const n = ["-n", engine.netns];
  must(
    await runTool("ip", [...n, "addr", "add", `${engineAddress}/30`, "dev", inside]),
    `addressing ${inside}`,
  );
  must(await runTool("ip", [...n, "link", "set", inside, "up"]), `raising ${inside}`);
  return {
    outside,
    hostAddress,
    engineAddress,
    async remove() {
      await runTool("ip", ["link", "del", outside]);
      forget();
    },
  };
}
