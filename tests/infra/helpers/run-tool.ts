import { spawn } from "node:child_process";

/** What a finished tool run left behind. */
export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/**
 * Runs a real tool to completion and returns its exit code and output; never throws on a non-zero exit,
 * so a test can assert both success and the refusal of a broken file.
 */
export function runTool(command: string, args: string[], options: RunToolOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 20_000,
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.once("error", (error) => reject(new Error(`could not run ${command}: ${error.message}`)));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    if (child.stdin !== null) {
      child.stdin.on("error", () => {}); // a tool that exits without reading its input is not our failure
      child.stdin.end(options.input);
    }
  });
}

/** Throws a clear error (the test fails, it is never skipped) when this process is not root. */
export function requireRoot(why: string): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    throw new Error(`this test needs root (${why}); run it as root, as .ci/run does`);
  }
}
