import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runTool } from "../infra/helpers/run-tool.js";
import { startChild } from "../support/child-process.js";
import { waitUntil } from "../support/wait-until.js";
import { BUSYBOX_IMAGE, importBusyboxImage } from "./support/busybox-image.js";
import { startDockerd } from "./support/dockerd.js";

/** Where an engine lived: what must be gone once it is stopped or its test process is killed. */
interface EngineTraces {
  dir: string;
  netns: string;
  cgroupParent: string;
}

/** What is still there of an engine: live processes naming its directory, cgroups, mounts, files, its namespace. */
async function leftovers(traces: EngineTraces): Promise<string[]> {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      const state = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /, "")[0];
      if (cmdline.includes(traces.dir) && state !== "Z") found.push(`process ${pid}: ${cmdline}`);
    } catch {
      // Exited while we looked.
    }
  }
  for (const controller of readdirSync("/sys/fs/cgroup")) {
    if (existsSync(join("/sys/fs/cgroup", controller, traces.cgroupParent))) {
      found.push(`cgroup ${controller}/${traces.cgroupParent}`);
    }
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const point = line.split(" ")[4] ?? "";
    if (point.startsWith(`${traces.dir}/`)) found.push(`mount ${point}`);
  }
  if (existsSync(traces.dir)) found.push(`directory ${traces.dir}`);
  const namespaces = (await runTool("ip", ["netns", "list"])).stdout;
  if (namespaces.split("\n").some((line) => line.split(" ")[0] === traces.netns)) {
    found.push(`network namespace ${traces.netns}`);
  }
  return found;
}

describe("the lane's dockerd", () => {
  it("runs a container of the local image with its memory limit and published port, and leaves nothing behind", async () => {
    const engine = await startDockerd();
    const traces = { dir: engine.dir, netns: engine.netns, cgroupParent: engine.cgroupParent };
    try {
      await importBusyboxImage(engine);
      const id = (
        await engine.mustDocker([
          "run",
          "-d",
          "--memory",
          "48m",
          "-p",
          "127.0.0.1:8080:80",
          BUSYBOX_IMAGE,
          "httpd",
          "-f",
          "-p",
          "80",
          "-h",
          "/www",
        ])
      ).trim();
      const page = await waitUntil(
        async () => {
          const got = await runTool("ip", [
            "netns",
            "exec",
            engine.netns,
            "busybox",
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/",
          ]);
          return got.code === 0 ? got.stdout : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, describe: () => "the published port never answered" },
      );
      expect(page).toBe("tapbot stand-in\n");
      const limit = readFileSync(
        join("/sys/fs/cgroup/memory", engine.cgroupParent, id, "memory.limit_in_bytes"),
        "utf8",
      );
      expect(Number(limit)).toBe(48 * 1024 * 1024);
      // The machine's own network namespace never sees the engine's bridge or its rules.
      expect((await runTool("ip", ["-br", "addr"])).stdout).not.toContain("10.213.0.1");
    } finally {
      await engine.stop();
    }
    expect(await leftovers(traces)).toEqual([]);
  });

  it.each(["SIGTERM", "SIGINT"] as const)(
    "is swept away when its test process gets %s with a container running",
    async (signal) => {
      const holder = startChild(process.execPath, [
        "--import",
        "tsx",
        "tests/containers/support/engine-holder.ts",
      ]);
      const line = await holder.waitForLine(/^\{"dir"/, 60_000);
      const traces = JSON.parse(line) as EngineTraces;
      expect(await leftovers(traces)).not.toEqual([]);
      holder.child.kill(signal);
      await holder.exited;
      const left = await waitUntil(
        async () => {
          const now = await leftovers(traces);
          return now.length === 0 ? now : undefined;
        },
        { timeoutMs: 10_000, describe: () => `the engine's traces stayed after ${signal}` },
      );
      expect(left).toEqual([]);
    },
  );
});
