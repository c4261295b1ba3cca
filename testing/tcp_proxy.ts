/**
 * A loopback TCP proxy for tests of clients that must survive a dropped connection: it can cut
 * each connection after a set number of bytes from the server (mid-header, mid-event, anywhere),
 * and its upstream can change while it runs, so a client keeps one address across a service's
 * restart.
 *
 * @module
 */

/** Settings of {@linkcode startTcpProxy}. */
export interface TcpProxyOptions {
  /** Where connections go: `host:port` of the service. */
  upstream: string;
  /**
   * How many bytes of the server's answer connection `n` (0-based) passes before the proxy
   * closes it; `undefined` lets it run to its end.
   */
  cutAfter?: (n: number) => number | undefined;
}

/** A running proxy. */
export interface TcpProxy extends AsyncDisposable {
  /** `http://127.0.0.1:port`. */
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Sends new connections to `upstream` (`host:port`) from now on. */
  setUpstream(upstream: string): void;
  /** Stops accepting and closes every open connection. */
  close(): Promise<void>;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/**
 * Starts a proxy on a free loopback port.
 *
 * @example
 * ```ts ignore
 * await using proxy = startTcpProxy({ upstream: "127.0.0.1:8000", cutAfter: (n) => n < 3 ? 500 : undefined });
 * ```
 */
export function startTcpProxy(options: TcpProxyOptions): TcpProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let upstream = options.upstream;
  let connections = 0;
  let cuts = 0;
  const open = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();

  const serve = async (client: Deno.Conn, n: number) => {
    open.add(client);
    const [hostname, port] = [
      upstream.slice(0, upstream.lastIndexOf(":")),
      Number(upstream.slice(upstream.lastIndexOf(":") + 1)),
    ];
    let server: Deno.Conn;
    try {
      server = await Deno.connect({ hostname, port });
    } catch {
      // The service is down: the client sees its connection closed, as with no proxy.
      open.delete(client);
      closeQuietly(client);
      return;
    }
    open.add(server);
    const limit = options.cutAfter?.(n);
    const end = () => {
      closeQuietly(client);
      closeQuietly(server);
      open.delete(client);
      open.delete(server);
    };
    const up = (async () => {
      const buffer = new Uint8Array(16_384);
      try {
        for (;;) {
          const read = await client.read(buffer);
          if (read === null) break;
          await server.write(buffer.subarray(0, read));
        }
      } catch {
        // either side closed
      }
    })();
    const down = (async () => {
      const buffer = new Uint8Array(16_384);
      let passed = 0;
      try {
        for (;;) {
          const read = await server.read(buffer);
          if (read === null) break;
          let chunk = buffer.subarray(0, read);
          const cut = limit !== undefined && passed + chunk.length >= limit;
          if (cut) chunk = chunk.subarray(0, Math.max(0, limit - passed));
          for (let done = 0; done < chunk.length;) {
            done += await client.write(chunk.subarray(done));
          }
          passed += chunk.length;
          if (cut) {
            cuts++;
            break;
          }
        }
      } catch {
        // either side closed
      }
      end();
    })();
    await Promise.allSettled([up, down]);
    end();
  };

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const pump = serve(client, connections++);
        pumps.add(pump);
        pump.finally(() => pumps.delete(pump));
      }
    } catch {
      // closed
    }
  })();

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        listener.close();
      } catch {
        // already closed
      }
      for (const conn of open) closeQuietly(conn);
      await accepting;
      await Promise.allSettled([...pumps]);
    })();

  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get connections() {
      return connections;
    },
    get cuts() {
      return cuts;
    },
    setUpstream(next: string) {
      upstream = next;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
