/**
 * Runs a full garbage collection in another Node process through its inspector (started with
 * `--inspect=127.0.0.1:<port>`, e.g. in NODE_OPTIONS), so that its memory can be read after GC without any
 * hook in the app: the DevTools protocol's `HeapProfiler.collectGarbage`, over Node's own WebSocket.
 */
export async function collectGarbage(inspectPort: number): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as {
    webSocketDebuggerUrl?: string;
  }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${inspectPort}`);
  const socket = new WebSocket(url);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener("open", () => resolve(), { once: true });
      socket.addEventListener("error", () => reject(new Error(`inspector at ${url} refused`)), {
        once: true,
      });
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("HeapProfiler.collectGarbage got no answer in 30 s")),
        30_000,
      );
      socket.addEventListener("message", (event) => {
        if ((JSON.parse(String(event.data)) as { id?: number }).id !== 1) return;
        clearTimeout(timer);
        resolve();
      });
      socket.send(JSON.stringify({ id: 1, method: "HeapProfiler.collectGarbage" }));
    });
  } finally {
    socket.close();
  }
}
