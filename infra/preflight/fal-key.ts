import { type HttpAnswer, HttpUnreachableError } from "./http-get.js";
import { type PreflightRow, row } from "./row.js";

/**
 * The status URL of a request that does not exist: fal checks the key before it looks the request up, so a
 * rejected key answers 401 and an accepted one 404, and nothing is queued, run or billed.
 */
export const FAL_PROBE_PATH = "/fal-ai/flux/requests/00000000-0000-4000-8000-000000000000/status";

/** The fal row: 401/403 blocks (every job would fail), any other answer under 500 means the key is accepted. */
export async function falRow(get: () => Promise<HttpAnswer>): Promise<PreflightRow> {
  let answer: HttpAnswer;
  try {
    answer = await get();
  } catch (error) {
    if (!(error instanceof HttpUnreachableError)) throw error;
    return row(
      "fal key",
      "fal",
      "warn",
      error.message,
      "check this machine's internet access, then run preflight again",
    );
  }
  const detail = (answer.body as { detail?: unknown } | undefined)?.detail;
  const said = typeof detail === "string" ? ` ${detail}` : "";
  if (answer.status === 401 || answer.status === 403) {
    return row(
      "fal key",
      "fal",
      "block",
      `fal refuses the key (${answer.status}${said})`,
      "create a key at fal.ai (Dashboard → Keys) and set it: pulumi config set --secret falKey (or FAL_KEY)",
    );
  }
  if (answer.status >= 500) {
    return row(
      "fal key",
      "fal",
      "warn",
      `fal answered ${answer.status}${said}`,
      "run preflight again in a minute",
    );
  }
  return row(
    "fal key",
    "fal",
    "ok",
    `fal accepts the key (a made-up request's status answered ${answer.status}${said})`,
  );
}
