import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { closeServer, listen } from "./listen.js";
import { redactSecrets } from "./logger.js";

/** Options of {@link startOpsServer}. */
export interface OpsServerOptions {
  /** Port to listen on; 0 picks a free one (tests). */
  port: number;
  /** Address to listen on (HTTP_HOST: loopback unless a container needs 0.0.0.0). */
  host: string;
  /** Dependency checks for /healthz by name; each resolves when the dependency answers. */
  checks: Record<string, () => Promise<void>>;
  registry: Registry;
  /** Gets every other request first (the bot's webhook); resolves false to fall through to 404. */
  handle?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /** How long one check may take before it counts as failed. @defaultValue 2000 */
  checkTimeoutMs?: number;
}

/** A running ops server. */
export interface OpsServer {
  readonly port: number;
  /**
   * From now on /healthz answers 503 `{"status":"draining"}`, so a load balancer's health check takes
   * this process out of rotation while it still serves what reaches it.
   */
  drain(): void;
  /**
   * Stops accepting connections (a proxy's next dial fails and goes to another replica) and closes idle
   * keep-alive ones; requests already on a connection are still answered, with `Connection: close`.
   */
  stopAccepting(): void;
  close(): Promise<void>;
}

function withTimeout(check: () => Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    check().then(
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

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

/** The /healthz answer: every check passed, one failed (named, secrets stripped), or draining. */
async function health(
  checks: OpsServerOptions["checks"],
  timeoutMs: number,
  draining: boolean,
): Promise<{ ok: boolean; body: string }> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(
    names.map((n) => withTimeout(checks[n] as () => Promise<void>, timeoutMs)),
  );
  const outcome: Record<string, string> = {};
  results.forEach((r, i) => {
    outcome[names[i] as string] =
      r.status === "fulfilled"
        ? "ok"
        : `failed: ${redactSecrets(r.reason instanceof Error ? r.reason.message : String(r.reason))}`;
  });
  const ok = !draining && results.every((r) => r.status === "fulfilled");
  const status = draining ? "draining" : ok ? "ok" : "unhealthy";
  return { ok, body: JSON.stringify({ status, checks: outcome }) };
}

/**
 * The HTTP endpoint every process serves: GET /healthz runs the dependency checks in parallel (200 when
 * all pass, 503 naming the failed ones, with secrets stripped from the reasons, or while draining), GET
 * /metrics renders the Prometheus registry; anything else goes to `handle`, else 404.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  let draining = false;
  let accepting = true;
  const server = createServer((req, res) => {
    if (!accepting) res.setHeader("connection", "close");
    void route(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy(error instanceof Error ? error : undefined);
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      const { ok, body } = await health(options.checks, timeoutMs, draining);
      send(res, ok ? 200 : 503, "application/json", body);
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      send(res, 200, options.registry.contentType, await options.registry.metrics());
      return;
    }
    if (options.handle !== undefined && (await options.handle(req, res))) return;
    send(res, 404, "text/plain", "not found\n");
  }

  const port = await listen(server, options.port, options.host);
  return {
    port,
    drain() {
      draining = true;
    },
    stopAccepting() {
      if (!accepting) return;
      accepting = false;
      server.close();
      server.closeIdleConnections();
    },
    close: () => {
      accepting = false;
      return closeServer(server);
    },
  };
}
