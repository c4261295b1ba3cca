/**
 * A full garbage collection in another Deno process, asked for over the V8 inspector protocol
 * (the process runs with `--inspect=127.0.0.1:<port>`). Memory compared before and after some
 * work means something only after one: otherwise it measures when V8 last chose to collect.
 *
 * @module
 */

/** What the heap holds after a collection. */
export interface HeapAfterGc {
  /** Bytes of live JavaScript objects. */
  usedBytes: number;
}

/** Runs a full collection in the process whose inspector listens on `port`. */
export async function collectGarbage(port: number): Promise<HeapAfterGc> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
    webSocketDebuggerUrl: string;
  }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error(`No inspector target on port ${port}`);
  const socket = new WebSocket(url);
  const replies = new Map<number, (result: Record<string, unknown>) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data) as { id?: number; result?: Record<string, unknown> };
    if (message.id !== undefined) replies.get(message.id)?.(message.result ?? {});
  };
  const opened = Promise.withResolvers<void>();
  socket.onopen = () => opened.resolve();
  socket.onerror = () => opened.reject(new Error(`Cannot open the inspector at ${url}`));
  const closed = new Promise((resolve) => socket.onclose = resolve);
  let next = 0;
  const call = (method: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = ++next;
      replies.set(id, resolve);
      socket.send(JSON.stringify({ id, method }));
    });
  try {
    await opened.promise;
    await call("HeapProfiler.collectGarbage");
    const usage = await call("Runtime.getHeapUsage");
    return { usedBytes: Number(usage.usedSize) };
  } finally {
    socket.close();
    await closed;
  }
}
