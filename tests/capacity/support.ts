import { execFile } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CapacityInputError } from "../../capacity/index.js";

/** The repository's root. */
export const root = fileURLToPath(new URL("../../", import.meta.url));

/** The CLI's command line after `node`: tsx and capacity/cli/main.ts, as `npm run capacity` runs it. */
export const CLI_ARGS = [join(root, "node_modules/tsx/dist/cli.mjs"), join(root, "capacity/cli/main.ts")];

/** What a run of the CLI left: its exit code (-1 when it did not exit on its own) and its output. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `npm run capacity -- …` as a person would (tsx on capacity/cli/main.ts) in `cwd`, and waits for it to exit. */
export function runCapacity(cwd: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...CLI_ARGS, ...args],
      { cwd, env: { ...process.env, NO_COLOR: "" }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The "path: message" lines of the CapacityInputError `run` throws. */
export function issuesOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof CapacityInputError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  throw new Error("expected a CapacityInputError");
}

/** A service's memory limit in a plan (or its JSON); NaN when the plan has no such service. */
export function limitOf(
  plan: { hosts: { services: { name: string; limitMB: number }[] }[] },
  name: string,
): number {
  return plan.hosts.flatMap((h) => h.services).find((s) => s.name === name)?.limitMB ?? Number.NaN;
}
