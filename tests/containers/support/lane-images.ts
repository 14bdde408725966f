import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Dockerd } from "./dockerd.js";
import { buildNodeBaseImage } from "./node-base-image.js";
import { startRegistryProxy } from "./registry-proxy.js";

/**
 * The lane's shared image directory (set by lane-setup.ts, vitest.containers.config.ts's globalSetup): each
 * image the lane builds is built by the first test file that needs it, in that file's engine, and saved
 * here as a `docker save` tarball; every later file `docker load`s it in seconds instead of building again.
 * Unset (a file run outside the lane's config), each file builds what it needs itself.
 */
export const LANE_IMAGES_ENV = "TAPBOT_LANE_IMAGES";

/** The CAs this machine trusts: its network intercepts TLS, and npm in the build must trust that too. */
export const MACHINE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** The tag the lane gives its build of app/Dockerfile. */
export const APP_IMAGE = "tapbot-app:lane";

/** What the build of app/Dockerfile did, kept beside the tarball so that app-image.test checks it wherever it ran. */
export interface AppBuildRecord {
  code: number | null;
  /** The build's output tail, for failure messages. */
  outputTail: string;
  /** The CONNECT tunnels the build's npm steps opened through the lane's proxy. */
  tunnels: string[];
  /** CONNECT requests the proxy refused (not the npm registry). */
  refused: string[];
  /** Seconds the node base and the app build took. */
  baseSeconds: number;
  buildSeconds: number;
}

/** Port of the build's registry proxy (this lane's range). */
const PROXY_PORT = 42300;

const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

/**
 * app/Dockerfile built once per lane with the machine's CA bundle as its `extra-ca` secret and the npm
 * registry reachable through a proxy, from the lane's node:24-slim stand-in: loaded into `engine` from the
 * lane's tarball when an earlier file built it, otherwise built here (and saved for the next files). Returns
 * the build's record; the image is in the engine as {@link APP_IMAGE} only when the record's code is 0.
 */
export async function appImage(engine: Dockerd): Promise<AppBuildRecord> {
  const dir = process.env[LANE_IMAGES_ENV];
  const tarball = dir === undefined ? undefined : join(dir, "app.tar");
  const recordFile = dir === undefined ? undefined : join(dir, "app-build.json");
  if (tarball !== undefined && recordFile !== undefined && existsSync(recordFile)) {
    const record = JSON.parse(await readFile(recordFile, "utf8")) as AppBuildRecord;
    if (record.code === 0) await engine.mustDocker(["load", "-q", "-i", tarball], { timeoutMs: 180_000 });
    return record;
  }
  const proxy = await startRegistryProxy(engine, { allow: ["registry.npmjs.org:443"], port: PROXY_PORT });
  let record: AppBuildRecord;
  try {
    const baseStart = performance.now();
    await buildNodeBaseImage(engine);
    const baseSeconds = seconds(baseStart);
    const buildStart = performance.now();
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
        APP_IMAGE,
        ".",
      ],
      { timeoutMs: 480_000 },
    );
    record = {
      code: build.code,
      outputTail: `${build.stdout}${build.stderr}`.slice(-4000),
      tunnels: [...proxy.tunnels],
      refused: [...proxy.refused],
      baseSeconds,
      buildSeconds: seconds(buildStart),
    };
  } finally {
    await proxy.stop();
  }
  if (tarball !== undefined && recordFile !== undefined) {
    if (record.code === 0) {
      await engine.mustDocker(["save", "-o", tarball, APP_IMAGE], { timeoutMs: 180_000 });
    }
    await writeFile(recordFile, JSON.stringify(record));
  }
  return record;
}
