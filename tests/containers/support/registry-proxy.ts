import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import type { Dockerd } from "./dockerd.js";
import { engineUplink } from "./engine-uplink.js";

/** Options of {@link startRegistryProxy}. */
export interface RegistryProxyOptions {
  /** The only host:port pairs a build may open a tunnel to. */
  allow: string[];
  /** Port on the link's host address (the lane's own range). @defaultValue 47300 */
  port?: number;
}

/** A running proxy; see {@link startRegistryProxy}. */
export interface RegistryProxy {
  /** `http://<host address>:<port>`: the build's HTTPS_PROXY. */
  readonly url: string;
  /** Tunnels opened so far, as "host:port". */
  readonly tunnels: string[];
  /** CONNECT requests refused (not on the allow list). */
  readonly refused: string[];
  stop(): Promise<void>;
}

/**
 * The only way out of an engine's network namespace: a veth link from it to the machine's namespace (a /30
 * of 10.215.0.0/16) and, on the machine's end, an HTTP CONNECT proxy that opens tunnels to the allowed
 * hosts only (the npm registry for `npm ci` in a build). The machine forwards nothing and gets no NAT rule:
 * the build's connection ends at the proxy, a local process, and the engine masquerades its containers'
 * traffic onto the link itself. TLS goes end to end through the tunnel, so a build must trust whatever
 * certificate the machine's own network presents (the app's Dockerfile takes an extra CA bundle).
 */
export async function startRegistryProxy(
  engine: Dockerd,
  opts: RegistryProxyOptions,
): Promise<RegistryProxy> {
  const link = await engineUplink(engine, "tb", "10.215");
  const { hostAddress } = link;

  const tunnels: string[] = [];
  const refused: string[] = [];
  const server: Server = createServer((_req, res) => {
    res.writeHead(405).end("only CONNECT\n");
  });
  // Tunnels leave the server's bookkeeping once upgraded, and one whose build container vanished with its
  // namespace never sees a FIN: close() would wait for it forever. stop() ends them itself.
  const open = new Set<{ destroy(): void }>();
  server.on("connect", (req, client, head) => {
    open.add(client);
    client.once("close", () => open.delete(client));
    const target = req.url ?? "";
    const [host, port] = target.split(":");
    if (!opts.allow.includes(target) || host === undefined || port === undefined) {
      refused.push(target);
      client.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    tunnels.push(target);
    const upstream = connect({ host, port: Number(port) }, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    const close = () => {
      upstream.destroy();
      client.destroy();
    };
    for (const socket of [upstream, client]) {
      socket.on("error", close);
      socket.on("close", close);
    }
  });
  const port = opts.port ?? 47300;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostAddress, () => resolve());
  });
  return {
    url: `http://${hostAddress}:${port}`,
    tunnels,
    refused,
    async stop() {
      for (const socket of open) socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await link.remove();
    },
  };
}
