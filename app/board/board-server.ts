import type { Server } from "node:http";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { HonoAdapter } from "@bull-board/hono";
import { createAdaptorServer } from "@hono/node-server";
import { serveStatic } from "@hono/node-server/serve-static";
import { Hono } from "hono";
import type { Redis } from "ioredis";
import { closeServer, listen } from "../observability/listen.js";
import type { Logger } from "../observability/logger.js";
import type { GenerationQueue } from "../queue/generation-queue.js";
import { BasicAuthGate } from "./basic-auth.js";
import { boardAction } from "./board-actions.js";

/** The realm browsers show in their login prompt. */
export const BOARD_REALM = "tapbot queue";

/** Inputs of {@link startBoardServer}. */
export interface BoardServerOptions {
  /** The app's generation queue, on the board's own Redis connection. */
  generations: GenerationQueue;
  redis: Redis;
  user: string;
  passwordHash: string;
  port: number;
  host: string;
  logger: Logger;
}

/** A listening board. */
export interface BoardServer {
  readonly port: number;
  close(): Promise<void>;
}

/** How long /healthz waits for Redis's PING before it answers 503. */
const HEALTH_TIMEOUT_MS = 2_000;

function pingWithin(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    redis.ping().then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Bull Board over the app's generation queue, behind HTTP basic auth checked here (the proxy's allowlist is the
 * other lock, see infra/proxy-sites.ts). Order of the checks: GET /healthz answers anyone (Redis reachable, no
 * queue data: the container's healthcheck); every other request without the board's credentials gets 401 and
 * nothing of the queue; with them, only reading and retrying a failed job pass (see board-actions.ts).
 */
export async function startBoardServer(options: BoardServerOptions): Promise<BoardServer> {
  const { generations, logger } = options;
  const serverAdapter = new HonoAdapter(serveStatic);
  // A completed generation retried would bill fal again and send the user a second picture: the page offers no
  // retry for completed jobs (an option the adapter's type leaves out), and the API refuses one (below).
  const adapterOptions = { description: "generation jobs", allowCompletedRetries: false };
  createBullBoard({
    queues: [new BullMQAdapter(generations.queue, adapterOptions)],
    serverAdapter,
    options: { uiConfig: { boardTitle: "tapbot queue" } },
  });
  const gate = new BasicAuthGate(options.user, options.passwordHash);
  const app = new Hono();

  app.get("/healthz", async (c) => {
    c.header("cache-control", "no-store");
    try {
      await pingWithin(options.redis, HEALTH_TIMEOUT_MS);
      return c.json({ status: "ok" });
    } catch {
      return c.json({ status: "unhealthy", checks: { redis: "failed" } }, 503);
    }
  });

  app.use("*", async (c, next) => {
    const header = c.req.header("authorization");
    if (await gate.admits(header)) {
      await next();
      return undefined;
    }
    if (header !== undefined)
      logger.warn({ path: c.req.path }, "board login refused: wrong user or password");
    c.header("www-authenticate", `Basic realm="${BOARD_REALM}", charset="UTF-8"`);
    c.header("cache-control", "no-store");
    return c.text("Unauthorized: the queue dashboard needs its user and password\n", 401);
  });

  app.use("/api/*", async (c, next) => {
    const action = boardAction(c.req.method, c.req.path);
    if (action.kind === "refused") {
      logger.warn({ method: c.req.method, path: c.req.path }, "board request refused");
      return c.json({ error: action.reason }, 403);
    }
    if (action.kind === "retry" && action.queueName === generations.queue.name) {
      const state = await generations.queue.getJobState(action.jobId);
      if (state !== "failed") {
        return c.json({ error: `only a failed job can be retried; job ${action.jobId} is ${state}` }, 409);
      }
      logger.info({ jobId: action.jobId }, "failed job retried from the board");
    }
    await next();
    return undefined;
  });

  app.route("/", serverAdapter.registerPlugin());

  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const port = await listen(server, options.port, options.host);
  return { port, close: () => closeServer(server) };
}
