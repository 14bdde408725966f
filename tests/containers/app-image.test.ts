import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dockerd, startDockerd } from "./support/dockerd.js";
import { APP_IMAGE, type AppBuildRecord, appImage } from "./support/lane-images.js";

/**
 * Issue 9 item 1 (start): app/Dockerfile, unchanged by the test, built by the engine from a local
 * node:24-slim stand-in, its npm steps reaching the registry through the lane's proxy and trusting the
 * machine's CA bundle given as the Dockerfile's `extra-ca` secret. The lane builds it once (in whichever
 * file needs it first, lane-images.ts); the build's record is checked here wherever it ran.
 */
describe("app/Dockerfile on a real engine", () => {
  let engine: Dockerd;
  let build: AppBuildRecord;

  beforeAll(async () => {
    engine = await startDockerd();
    build = await appImage(engine);
    console.log(
      `app image: node base ${build.baseSeconds} s, app build ${build.buildSeconds} s (in this lane's first file that needed it)`,
    );
  }, 600_000);
  afterAll(async () => {
    await engine?.stop();
  }, 120_000);

  it("builds with the extra CA, runs as the node user, and the bot in it starts and names its missing settings", async () => {
    expect(build.code, build.outputTail).toBe(0);
    expect(build.tunnels).toContain("registry.npmjs.org:443");
    expect(build.refused).toEqual([]);

    const user = await engine.mustDocker(["image", "inspect", "--format", "{{.Config.User}}", APP_IMAGE]);
    expect(user.trim()).toBe("node");
    // The default command is the bot; with no environment it stops at once, naming what is missing.
    const run = await engine.docker(["run", "--rm", APP_IMAGE], { timeoutMs: 60_000 });
    const output = run.stdout + run.stderr;
    expect(run.code, output).not.toBe(0);
    expect(output).toContain("bot failed to start: Invalid configuration");
    expect(output).toContain("TELEGRAM_BOT_TOKEN: required");
  }, 120_000);
});
