import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Listens on `host:port` and resolves with the port bound (the one chosen when `port` is 0), or rejects with
 * the listen error (EADDRINUSE, EACCES) instead of leaving it to an unhandled `error` event.
 */
export async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops listening and ends every connection, kept-alive ones included; resolves once the server closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    if (server.listening) server.close(() => resolve());
    else resolve();
    server.closeAllConnections();
  });
}
