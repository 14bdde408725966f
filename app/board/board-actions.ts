/**
 * What the owner may do on the queue dashboard: look at everything, and retry a failed job. Bull Board offers
 * more (clean, empty, obliterate, remove, promote, pause, add, edit job data, change priority or delay); each
 * of those either drops accepted requests whose users are never told (the worker's promise of exactly one
 * answer rests on every job ending through the worker) or reorders the fal-slot line the workers keep in
 * Redis (app/queue/fal-slots.ts). They are refused at the HTTP layer, whatever the page shows.
 */
export type BoardAction =
  | { kind: "read" }
  | { kind: "retry"; queueName: string; jobId: string }
  | { kind: "refused"; reason: string };

const RETRY_ONE = /^\/api\/queues\/([^/]+)\/([^/]+)\/retry$/;

/** Classifies one request to the board by method and path (the path without the query). Pure. */
export function boardAction(method: string, path: string): BoardAction {
  if (method === "GET" || method === "HEAD") return { kind: "read" };
  const retry = method === "PUT" ? RETRY_ONE.exec(path) : null;
  if (retry !== null) {
    return {
      kind: "retry",
      queueName: decodeURIComponent(retry[1] as string),
      jobId: decodeURIComponent(retry[2] as string),
    };
  }
  return {
    kind: "refused",
    reason:
      "this dashboard only shows the queue and retries failed jobs; cleaning, removing, promoting, pausing, " +
      "adding or editing jobs would bypass the workers, which tell every user how their request ended",
  };
}
