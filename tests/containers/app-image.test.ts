import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Dockerd, startDockerd } from "./support/dockerd.js";
import { buildNodeBaseImage } from "./support/node-base-image.js";
import { type RegistryProxy, startRegistryProxy } from "./support/registry-proxy.js";

/** The CAs this machine trusts: its network intercepts TLS, and npm in the build must trust that too. */
const MACHINE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
const TAG = "tapbot-app:lane";

/**
 * Issue 9 item 1 (start): app/Dockerfile, unchanged by the test, built by the engine from a local
 * node:24-slim stand-in, its npm steps reaching the registry through the lane's proxy and trusting the
 * machine's CA bundle given as the Dockerfile's `extra-ca` secret.
 */
describe("app/Dockerfile on a real engine", () => {
  let engine: Dockerd;
  let proxy: RegistryProxy;

  beforeAll(async () => {
    engine = await startDockerd();
    proxy = await startRegistryProxy(engine, { allow: ["registry.npmjs.org:443"] });
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await engine?.stop();
  }, 120_000);

  it("builds with the extra CA, runs as the node user, and the bot in it starts and names its missing settings", async () => {
    await buildNodeBaseImage(engine);
    const build = await engine.docker(
      [
        "build",
        "--secret",
        `id=extra-ca,src=${MACHINE_CA_BUNDLE}`,
        "--build-arg",
        `HTTPS_PROXY=${proxy.url}`,
        "-f",
        "app/Dockerfile",
        "-t",
        TAG,
        ".",
      ],
      { timeoutMs: 480_000 },
    );
    expect(build.code, `${build.stdout}${build.stderr}`.slice(-4000)).toBe(0);
    expect(proxy.tunnels).toContain("registry.npmjs.org:443");
    expect(proxy.refused).toEqual([]);

    const user = await engine.mustDocker(["image", "inspect", "--format", "{{.Config.User}}", TAG]);
    expect(user.trim()).toBe("node");
    // The default command is the bot; with no environment it stops at once, naming what is missing.
    const run = await engine.docker(["run", "--rm", TAG], { timeoutMs: 60_000 });
    const output = run.stdout + run.stderr;
    expect(run.code, output).not.toBe(0);
    expect(output).toContain("bot failed to start: Invalid configuration");
    expect(output).toContain("TELEGRAM_BOT_TOKEN: required");
  }, 600_000);
});
