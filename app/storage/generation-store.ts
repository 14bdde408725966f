import type pg from "pg";
import type { GenerationKind } from "../config.js";

export type GenerationStatus = "queued" | "running" | "delivered" | "failed" | "cancelled" | "expired";

/** The fields the bot knows when it accepts a request. */
export interface NewGeneration {
  id: string;
  userId: number;
  chatId: number;
  kind: GenerationKind;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  sourceFileId?: string | null | undefined;
  cacheKey: string;
}

/** One request for an image, from acceptance to its end. */
export interface Generation extends Omit<NewGeneration, "sourceFileId"> {
  sourceFileId: string | null;
  status: GenerationStatus;
  falRequestId: string | null;
  ackMessageId: number | null;
  resultFileId: string | null;
  cached: boolean;
  error: string | null;
  attempts: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  deliveredAt: Date | null;
}

interface GenerationRow {
  id: string;
  user_id: string;
  chat_id: string;
  kind: GenerationKind;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  source_file_id: string | null;
  cache_key: string;
  status: GenerationStatus;
  fal_request_id: string | null;
  ack_message_id: string | null;
  result_file_id: string | null;
  cached: boolean;
  error: string | null;
  attempts: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  delivered_at: Date | null;
}

function toGeneration(row: GenerationRow): Generation {
  return {
    id: row.id,
    userId: Number(row.user_id),
    chatId: Number(row.chat_id),
    kind: row.kind,
    model: row.model,
    prompt: row.prompt,
    params: row.params,
    sourceFileId: row.source_file_id,
    cacheKey: row.cache_key,
    status: row.status,
    falRequestId: row.fal_request_id,
    ackMessageId: row.ack_message_id === null ? null : Number(row.ack_message_id),
    resultFileId: row.result_file_id,
    cached: row.cached,
    error: row.error,
    attempts: row.attempts,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    deliveredAt: row.delivered_at,
  };
}

/** The statuses after which a generation never changes again. */
export const finalStatuses: readonly GenerationStatus[] = ["delivered", "failed", "cancelled", "expired"];
const finalStatusesSql = `(${finalStatuses.map((status) => `'${status}'`).join(", ")})`;

/**
 * The `generations` table. Transitions are guarded in SQL: a generation that reached a final status
 * (delivered, failed, cancelled, expired) is never moved again, so a late or repeated worker step
 * cannot turn a delivered request into a failed one or the reverse.
 */
export class GenerationStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(input: NewGeneration): Promise<Generation> {
    const { rows } = await this.pool.query<GenerationRow>(
      `INSERT INTO generations (id, user_id, chat_id, kind, model, prompt, params, source_file_id, cache_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       RETURNING *`,
      [
        input.id,
        input.userId,
        input.chatId,
        input.kind,
        input.model,
        input.prompt,
        JSON.stringify(input.params),
        input.sourceFileId ?? null,
        input.cacheKey,
      ],
    );
    return toGeneration(rows[0] as GenerationRow);
  }

  /**
   * Records the acknowledgement's message id. Returns true when the picture was already sent by then (a
   * worker that finished before the id was known could not mark the acknowledgement "done"; the caller
   * does it).
   */
  async setAckMessage(id: string, messageId: number): Promise<boolean> {
    const { rows } = await this.pool.query<{ result_file_id: string | null }>(
      "UPDATE generations SET ack_message_id = $2 WHERE id = $1 RETURNING result_file_id",
      [id, messageId],
    );
    return rows[0]?.result_file_id != null;
  }

  /** Records the fal request; counts the attempt; keeps the first start time. */
  async markRunning(id: string, falRequestId: string): Promise<void> {
    await this.pool.query(
      `UPDATE generations
         SET status = 'running', fal_request_id = $2, attempts = attempts + 1,
             started_at = coalesce(started_at, now())
       WHERE id = $1 AND status NOT IN ${finalStatusesSql}`,
      [id, falRequestId],
    );
  }

  /**
   * The image went out (Telegram answered with its file_id) but the bookkeeping after it (cache, "done")
   * is not finished: the row keeps its status and carries the file_id, which fences a rerun of the
   * delivery (it sends nothing when the row has one).
   */
  async markSent(id: string, resultFileId: string): Promise<void> {
    await this.pool.query(
      `UPDATE generations SET result_file_id = $2 WHERE id = $1 AND status NOT IN ${finalStatusesSql}`,
      [id, resultFileId],
    );
  }

  /** Final: the user has the image (from fal, or from the cache when `cached`). */
  async markDelivered(id: string, result: { resultFileId: string; cached: boolean }): Promise<void> {
    await this.pool.query(
      `UPDATE generations
         SET status = 'delivered', result_file_id = $2, cached = $3, error = NULL,
             delivered_at = now(), finished_at = now()
       WHERE id = $1 AND status NOT IN ${finalStatusesSql}`,
      [id, result.resultFileId, result.cached],
    );
  }

  /** Final: no image; `error` says why (for the owner, never shown to the user as is). */
  async markFailed(
    id: string,
    outcome: { error: string; status: "failed" | "cancelled" | "expired" },
  ): Promise<void> {
    await this.pool.query(
      `UPDATE generations SET status = $3, error = $2, finished_at = now()
       WHERE id = $1 AND status NOT IN ${finalStatusesSql}`,
      [id, outcome.error, outcome.status],
    );
  }

  async get(id: string): Promise<Generation | null> {
    const { rows } = await this.pool.query<GenerationRow>("SELECT * FROM generations WHERE id = $1", [id]);
    return rows[0] === undefined ? null : toGeneration(rows[0]);
  }

  /** The user's queued and running generations, oldest first. */
  async listActive(userId: number): Promise<Generation[]> {
    const { rows } = await this.pool.query<GenerationRow>(
      `SELECT * FROM generations WHERE user_id = $1 AND status IN ('queued', 'running') ORDER BY created_at`,
      [userId],
    );
    return rows.map(toGeneration);
  }

  /** The user's last delivered results, newest first. */
  async listRecent(userId: number, limit = 10): Promise<Generation[]> {
    const { rows } = await this.pool.query<GenerationRow>(
      `SELECT * FROM generations WHERE user_id = $1 AND status = 'delivered'
       ORDER BY delivered_at DESC LIMIT $2`,
      [userId, limit],
    );
    return rows.map(toGeneration);
  }
}
