import { connect, createServer, type Server, type Socket } from "node:net";
import { runTool } from "../../infra/helpers/run-tool.js";
import type { Dockerd } from "./dockerd.js";
import { engineUplink, must } from "./engine-uplink.js";

/** A link between the test host and an engine's namespace; see {@link linkHost}. */
export interface HostLink {
  /** The test host's address on the link: containers reach the host's forwarded servers here. */
  readonly hostAddress: string;
  /**
   * Serves `127.0.0.1:<localPort>` (a fake on the test host) on the link's host address at `port`, and
   * returns its URL root there (`http://<hostAddress>:<port>`), for the containers.
   */
  forward(localPort: number, port: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A veth between the test host's namespace and `engine`'s (a /30 of 10.216.0.0/16): containers reach the
 * host's end through the engine's masquerade, as they reach the Internet on a server; and the host reaches
 * `routeTo` (the engine host's tunnel address, where its ports are published) through the engine's end, as
 * the reverse proxy does. The fakes listen on 127.0.0.1 only; {@link HostLink.forward} relays a port of
 * the link to one of them. Everything goes with {@link HostLink.stop} (or the process's exit).
 */
export async function linkHost(engine: Dockerd, routeTo: string): Promise<HostLink> {
  const link = await engineUplink(engine, "th", "10.216");
  const { outside, hostAddress, engineAddress } = link;
  // Goes with the link.
  must(
    await runTool("ip", ["route", "add", `${routeTo}/32`, "via", engineAddress, "dev", outside]),
    `routing ${routeTo} through the host link`,
  );

  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  return {
    hostAddress,
    async forward(localPort, port) {
      const server = createServer((client) => {
        const upstream = connect({ host: "127.0.0.1", port: localPort });
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.once("close", () => sockets.delete(socket));
          socket.on("error", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, hostAddress, () => resolve());
      });
      servers.push(server);
      return `http://${hostAddress}:${port}`;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      await link.remove();
    },
  };
}
