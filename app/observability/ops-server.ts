import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { redactSecrets } from "./logger.js";

/** Options of {@link startOpsServer}. */
export interface OpsServerOptions {
  /** Port to listen on; 0 picks a free one (tests). */
  port: number;
  /** @defaultValue "0.0.0.0" */
  host?: string;
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

/**
 * The HTTP endpoint every process serves: GET /healthz runs the dependency checks in parallel (200 when
 * all pass, 503 naming the failed ones, with secrets stripped from the reasons), GET /metrics renders
 * the Prometheus registry; anything else goes to `handle`, else 404.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<OpsServer> {
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  const server = createServer((req, res) => {
    void route(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, "text/plain", "internal error\n");
      else res.destroy(error instanceof Error ? error : undefined);
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/healthz") {
      const names = Object.keys(options.checks);
      const results = await Promise.allSettled(
        names.map((n) => withTimeout(options.checks[n] as () => Promise<void>, timeoutMs)),
      );
      const checks: Record<string, string> = {};
      results.forEach((r, i) => {
        checks[names[i] as string] =
          r.status === "fulfilled"
            ? "ok"
            : `failed: ${redactSecrets(r.reason instanceof Error ? r.reason.message : String(r.reason))}`;
      });
      const ok = results.every((r) => r.status === "fulfilled");
      send(
        res,
        ok ? 200 : 503,
        "application/json",
        JSON.stringify({ status: ok ? "ok" : "unhealthy", checks }),
      );
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      send(res, 200, options.registry.contentType, await options.registry.metrics());
      return;
    }
    if (options.handle !== undefined && (await options.handle(req, res))) return;
    send(res, 404, "text/plain", "not found\n");
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
