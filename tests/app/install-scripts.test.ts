import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../support/app-stack.js";

/**
 * Runtime packages with an install script that the image is known to work without (app/Dockerfile installs
 * with --ignore-scripts): msgpackr-extract only speeds up msgpackr (bullmq) and loads its prebuilt binary at
 * run time. Checked by starting the compiled bot and worker on an `npm ci --omit=dev --ignore-scripts` tree.
 */
const VETTED = ["node_modules/msgpackr-extract"];

describe("the app image's npm installs run no install scripts", () => {
  it("passes --ignore-scripts to every npm ci in app/Dockerfile", async () => {
    const dockerfile = await readFile(join(repoRoot, "app/Dockerfile"), "utf8");
    // One instruction per line once the continuations (a backslash at the end of a line) are joined.
    const instructions = dockerfile.replace(/\\\n/g, " ").split("\n");
    const installs = instructions.filter((line) => /^RUN .*\bnpm ci\b/.test(line));
    expect(installs).toHaveLength(2);
    for (const line of installs) expect(line).toContain("--ignore-scripts");
  });

  it("has no runtime dependency with an install script but the vetted ones", async () => {
    const lock = JSON.parse(await readFile(join(repoRoot, "package-lock.json"), "utf8")) as {
      packages: Record<string, { hasInstallScript?: boolean; dev?: boolean; optional?: boolean }>;
    };
    const withScripts = Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript === true && p.dev !== true)
      .map(([path]) => path);
    expect(
      withScripts,
      "a runtime dependency has an install script: check that the image works without it (see app/Dockerfile), then add it here",
    ).toEqual(VETTED);
    // And the vetted one stays optional: msgpackr works without it.
    for (const path of VETTED) expect(lock.packages[path]?.optional, path).toBe(true);
  });
});
