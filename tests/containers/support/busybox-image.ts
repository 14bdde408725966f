import { copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runTool } from "../../infra/helpers/run-tool.js";
import { findBinary } from "../../support/find-binary.js";
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";
import type { Dockerd } from "./dockerd.js";

/**
 * The applets the lane's stand-in containers use: a shell, an HTTP server for listeners, nc for outgoing
 * checks (the static build's wget crashes in an image without NSS files).
 */
const APPLETS = ["sh", "httpd", "nc", "sleep", "cat"];

/** Tag of the image {@link importBusyboxImage} makes. */
export const BUSYBOX_IMAGE = "tapbot-busybox:local";

/**
 * A dynamically linked busybox would not run in an image that holds nothing else. Its ELF program headers
 * name the loader (PT_INTERP, "/lib64/ld-linux-x86-64.so.2") in the first bytes of the file.
 */
async function checkStatic(path: string): Promise<void> {
  const head = (await readFile(path)).subarray(0, 4096).toString("latin1");
  if (head.includes("/ld-linux") || head.includes("/ld-musl")) {
    throw new Error(
      `${path} is dynamically linked; the image needs a static busybox: apt-get install busybox-static`,
    );
  }
}

/**
 * A tiny image for stand-in services, made without a registry in about a second: `docker import` of a root
 * file system holding Debian's static busybox (package busybox-static) and a few applet links, with
 * index.html under /www for `busybox httpd -f -p PORT -h /www`.
 */
export async function importBusyboxImage(engine: Dockerd, tag = BUSYBOX_IMAGE): Promise<string> {
  const busybox = await findBinary("busybox", ["/bin", "/usr/bin"], "apt-get install busybox-static");
  await checkStatic(busybox);
  const dir = await makeTempDir("busybox-rootfs");
  try {
    const root = join(dir, "root");
    await mkdir(join(root, "bin"), { recursive: true });
    await mkdir(join(root, "www"));
    await copyFile(busybox, join(root, "bin", "busybox"));
    for (const applet of APPLETS) await symlink("busybox", join(root, "bin", applet));
    await writeFile(join(root, "www", "index.html"), "tapbot stand-in\n");
    const tar = join(dir, "rootfs.tar");
    const packed = await runTool("tar", ["-C", root, "-cf", tar, "."]);
    if (packed.code !== 0) throw new Error(`tar of the busybox root failed: ${packed.stderr}`);
    await engine.mustDocker(["import", "--change", 'CMD ["/bin/sh"]', tar, tag]);
    return tag;
  } finally {
    await removeTempDir(dir);
  }
}
