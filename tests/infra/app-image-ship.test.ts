import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUILD_EXTRA_CA_ENV,
  renderAppImageScript,
  SSH_KEY_ENV,
} from "../../infra/render/app-image-script.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { ThrowawayHost } from "../support/throwaway-host.js";
import { requireRoot, runTool } from "./helpers/run-tool.js";

const TAG = "tapbot-app:0123456789abcdef";
/** Size of the stand-in image `docker save` prints: random, so gzip cannot shrink the check away. */
const IMAGE_BYTES = 3_000_000;

/**
 * A stand-in `docker` (no daemon runs here): records every call in `state/calls`; `image inspect` succeeds
 * once the image exists; `build` makes it (random bytes), `save` prints it, `load` takes it gzipped on stdin,
 * as `docker load` accepts it. Anything else is refused, so an unexpected call fails the run.
 */
function fakeDocker(state: string): string {
  return `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>${state}/calls
case "$1" in
  image) [ "$2" = inspect ] && [ -e ${state}/image.tar ] ;;
  build) head -c ${IMAGE_BYTES} /dev/urandom >${state}/image.tar ;;
  save) cat ${state}/image.tar ;;
  load) gzip -dc >${state}/image.tar ;;
  *) echo "unexpected docker $*" >&2; exit 64 ;;
esac
`;
}

let dir: string;
let host: ThrowawayHost;
let privateKey: string;
const local = () => join(dir, "local");
const remote = () => join(dir, "remote");
const sha256Of = async (file: string) =>
  createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
const calls = async (side: string) =>
  (await readFile(join(side, "calls"), "utf8").catch(() => "")).split("\n").filter((l) => l !== "");

beforeAll(async () => {
  requireRoot("a throwaway sshd in its own network and mount namespaces");
  dir = await makeTempDir("app-image");
  for (const side of [local(), remote()]) {
    await mkdir(join(side, "bin"), { recursive: true });
    await writeFile(join(side, "bin", "docker"), fakeDocker(side));
    await chmod(join(side, "bin", "docker"), 0o755);
  }
  await mkdir(join(dir, "context", "app"), { recursive: true });
  await mkdir(join(dir, "tmp"));
  host = await ThrowawayHost.start({
    osRelease: 'NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n',
    meminfo: "MemTotal: 4014080 kB\nMemAvailable: 3696640 kB\n",
    dockerDiskSize: "64m",
  });
  // The host's docker is the stand-in: its bin directory over /usr/local/bin, first on sshd's PATH, inside
  // the host's own mount namespace only.
  await host.runInside("mount", ["--bind", join(remote(), "bin"), "/usr/local/bin"]);
  privateKey = await readFile(host.identityFile, "utf8");
}, 60_000);

afterAll(async () => {
  await host?.stop();
  if (dir !== undefined) await removeTempDir(dir);
});

/** Runs the rendered script as Pulumi's local command does: bash -s in the repository, the key in its env. */
function runScript(hostKey: string, extraEnv: Record<string, string> = {}) {
  const script = renderAppImageScript({
    tag: TAG,
    dockerfile: "app/Dockerfile",
    platform: "linux/amd64",
    host: { address: host.address, user: "root", port: 22, hostKey },
  });
  return runTool("bash", ["-s"], {
    input: script,
    cwd: join(dir, "context"),
    env: {
      ...process.env,
      PATH: `${join(local(), "bin")}:${process.env.PATH}`,
      TMPDIR: join(dir, "tmp"),
      [SSH_KEY_ENV]: privateKey,
      ...extraEnv,
    },
    timeoutMs: 60_000,
  });
}

describe("the app image script against a throwaway sshd", () => {
  it("builds here and loads the image on the host once, over one SSH connection; a second run does neither", async () => {
    const connectionsBefore = host.acceptedConnections();
    const first = await runScript(host.hostKey);
    expect(first.code, first.stderr).toBe(0);
    expect(await calls(local())).toEqual([
      `image inspect ${TAG}`,
      `build --platform linux/amd64 --file app/Dockerfile --tag ${TAG} .`,
      `save ${TAG}`,
    ]);
    expect(await calls(remote())).toEqual([`image inspect ${TAG}`, "load", `image inspect ${TAG}`]);
    // The host got exactly the bytes this machine's docker saved.
    expect((await stat(join(remote(), "image.tar"))).size).toBe(IMAGE_BYTES);
    expect(await sha256Of(join(remote(), "image.tar"))).toBe(await sha256Of(join(local(), "image.tar")));
    expect(first.stdout).toContain(`${TAG}: loaded on ${host.address}`);
    // Four steps on the host (check, inspect, load, inspect), one connection: a UFW limit of 6 in 30 s is far.
    expect(host.acceptedConnections() - connectionsBefore).toBe(1);

    const second = await runScript(host.hostKey);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`${TAG}: already built on this machine`);
    expect(second.stdout).toContain(`${TAG}: already on ${host.address}`);
    const localCalls = await calls(local());
    expect(localCalls.filter((c) => c.startsWith("build"))).toHaveLength(1);
    expect(localCalls.filter((c) => c.startsWith("save"))).toHaveLength(1);
    expect((await calls(remote())).filter((c) => c === "load")).toHaveLength(1);

    // The key never shows in the output, and its temp file is gone.
    for (const run of [first, second]) expect(run.stdout + run.stderr).not.toContain(privateKey.trim());
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  it("ships nothing to a host that answers with another key than the pinned one", async () => {
    const other = join(dir, "other_host_key");
    await promisify(execFile)("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const impostorKey = (await readFile(`${other}.pub`, "utf8")).split(" ").slice(0, 2).join(" ");
    const before = await calls(remote());
    const run = await runScript(impostorKey);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`cannot reach root@${host.address} over SSH`);
    expect(run.stderr).toMatch(/host key/i);
    expect(await calls(remote())).toEqual(before);
    expect(await readdir(join(dir, "tmp"))).toEqual([]);
  });

  it(`hands the build ${BUILD_EXTRA_CA_ENV} as the extra-ca secret, and refuses a path it cannot read`, async () => {
    await rm(join(local(), "image.tar")); // a new build is due
    const missing = await runScript(host.hostKey, { [BUILD_EXTRA_CA_ENV]: join(dir, "no-such-ca.pem") });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `${BUILD_EXTRA_CA_ENV}=${join(dir, "no-such-ca.pem")} is not a readable file`,
    );
    expect((await calls(local())).at(-1)).toBe(`image inspect ${TAG}`);

    const ca = join(dir, "proxy-ca.pem");
    await writeFile(ca, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    const run = await runScript(host.hostKey, { [BUILD_EXTRA_CA_ENV]: ca });
    expect(run.code, run.stderr).toBe(0);
    expect((await calls(local())).filter((c) => c.startsWith("build")).at(-1)).toBe(
      `build --platform linux/amd64 --file app/Dockerfile --tag ${TAG} --secret id=extra-ca,src=${ca} .`,
    );
  });
});
