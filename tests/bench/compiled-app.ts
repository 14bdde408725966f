import { execFile } from "node:child_process";
import { cp, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type AppRole, repoRoot, waitForAppReady } from "../support/app-stack.js";
import { type RunningChild, startChild } from "../support/child-process.js";
import { freePort } from "../support/free-port.js";
import { makeTempDir } from "../support/temp-dir.js";

/** A bot or worker started from the compiled build, as the image runs it. */
export interface CompiledProcess {
  readonly pid: number;
  readonly port: number;
  readonly child: RunningChild;
  /** GET /metrics as text. */
  metrics(): Promise<string>;
  /** A full garbage collection in the process now (SIGUSR2, handled by the preload of {@link buildApp}). */
  collectGarbage(): void;
  stop(): Promise<void>;
}

/**
 * Preloaded into every process (`--expose-gc --import`): a full GC on SIGUSR2, which neither Node nor the
 * app uses, so the bench can measure what a process retains rather than when V8 last collected.
 */
const GC_PRELOAD = "gc-on-signal.mjs";

/**
 * Compiles `app/` with `tsconfig.build.json` into a temp dir and lays it out as the image does
 * (`dist/app/…` with the Fluent files beside it), so that the processes measured are `node
 * dist/app/<role>/main.js` as deployed, without tsx's loader in their memory. `node_modules` is a link to
 * the repository's. Returns the directory (removed at exit).
 */
export async function buildApp(): Promise<string> {
  const dir = await makeTempDir("calibrate-build");
  await promisify(execFile)(
    join(repoRoot, "node_modules/.bin/tsc"),
    ["-p", "tsconfig.build.json", "--outDir", join(dir, "dist"), "--sourceMap", "false"],
    { cwd: repoRoot },
  ).catch((error: { stdout?: string }) => {
    // Type errors still emit JavaScript; only a build that produced no entry points is fatal (checked below).
    process.stderr.write(`tsc reported problems (the build is used anyway):\n${error.stdout ?? ""}\n`);
  });
  await cp(join(repoRoot, "app/locales"), join(dir, "dist/app/locales"), { recursive: true });
  await symlink(join(repoRoot, "node_modules"), join(dir, "node_modules"));
  await writeFile(join(dir, "package.json"), JSON.stringify({ type: "module" }));
  await writeFile(join(dir, GC_PRELOAD), 'process.on("SIGUSR2", () => globalThis.gc());\n');
  return dir;
}

/** Starts `node dist/app/<role>/main.js` and waits for its ready line and a 200 from /healthz. */
export async function startCompiled(
  buildDir: string,
  role: AppRole,
  env: Record<string, string>,
): Promise<CompiledProcess> {
  const port = await freePort();
  const child = startChild(
    process.execPath,
    ["--expose-gc", "--import", `./${GC_PRELOAD}`, `dist/app/${role}/main.js`],
    {
      cwd: buildDir,
      env: { ...env, HTTP_PORT: String(port) },
      keepLines: 200,
    },
  );
  await waitForAppReady(child, role, port);
  return {
    pid: child.pid,
    port,
    child,
    metrics: async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    collectGarbage: () => child.child.kill("SIGUSR2"),
    stop: () => child.stop("SIGTERM", 10_000),
  };
}
