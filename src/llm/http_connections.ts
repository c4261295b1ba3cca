/**
 * Kept-alive TCP (or TLS) connections to an LLM server, each read by one loop of `conn.read`
 * into its own buffer: one read op and one promise per arrival, the bytes handed on in place.
 * That is the whole cost of reading a streamed answer this way; `fetch` adds a web stream and
 * `node:http` an emitter stack per chunk (BENCHMARKS.md, "Issue 17, third step").
 *
 * An idle connection keeps its read pending, unref'd: a server that closes it is seen at once
 * (the connection leaves the pool, never to carry a request into a closed socket), and the
 * pending read does not keep a finished CLI alive.
 *
 * @module
 */

/** Where a connection goes: host, port and whether it speaks TLS. */
export interface Origin {
  hostname: string;
  port: number;
  tls: boolean;
}

/** Who reads a connection while it carries a request. */
export interface ConnectionReader {
  /** The next bytes; valid only during the call. */
  data(bytes: Uint8Array): void;
  /** The connection ended: `error` when reading it failed, nothing when the server closed it. */
  end(error?: unknown): void;
}

/** How long a connection may sit idle in the pool before it is closed. */
const IDLE_MS = 30_000;
/** The most idle connections kept per origin; more are closed as they come back. */
const MAX_IDLE = 256;
/** Bytes read at once: a streamed chunk is ~200 bytes, a burst behind a proxy a few KiB. */
const READ_BYTES = 16 * 1024;

/** One connection: its read loop, its reader while it carries a request, and its idle timer. */
export class HttpConnection {
  /** Whether it has carried a request before (a server may have closed it since). */
  reused = false;
  readonly #conn: Deno.Conn;
  readonly #pool: HttpConnectionPool;
  readonly #key: string;
  #reader: ConnectionReader | undefined;
  #closed = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** Wraps `conn`, which `pool` hands out for `key`, and starts reading it. */
  constructor(conn: Deno.Conn, pool: HttpConnectionPool, key: string) {
    this.#conn = conn;
    this.#pool = pool;
    this.#key = key;
    this.#readLoop();
  }

  /** Whether the connection is closed (by either side). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends `bytes`, then hands everything read to `reader` until `release` or `close`. */
  async send(bytes: Uint8Array, reader: ConnectionReader): Promise<void> {
    this.#reader = reader;
    this.#conn.ref();
    for (let at = 0; at < bytes.length;) at += await this.#conn.write(bytes.subarray(at));
  }

  /** The request is done and the connection clean: it goes back to the pool. */
  release(): void {
    this.#reader = undefined;
    this.reused = true;
    if (this.#closed) return;
    this.#conn.unref();
    if (!this.#pool.park(this.#key, this)) {
      this.close();
      return;
    }
    this.#idleTimer = setTimeout(() => this.close(), IDLE_MS);
    Deno.unrefTimer(this.#idleTimer);
  }

  /** Taken from the pool for a request. */
  unpark(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  /** Closes the connection; its reader, if any, hears nothing more. */
  close(): void {
    this.#reader = undefined;
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    this.#pool.forget(this.#key, this);
    try {
      this.#conn.close();
    } catch {
      // closed by the read loop's end already
    }
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BYTES);
    for (;;) {
      let n: number | null;
      try {
        n = await this.#conn.read(buffer);
      } catch (error) {
        this.#ended(error);
        return;
      }
      if (n === null) {
        this.#ended(undefined);
        return;
      }
      const reader = this.#reader;
      if (!reader) {
        // Bytes on an idle connection answer nothing we asked: it cannot carry a request.
        this.close();
        return;
      }
      reader.data(buffer.subarray(0, n));
    }
  }

  #ended(error: unknown): void {
    const reader = this.#reader;
    const wasClosed = this.#closed;
    this.close();
    // A read that fails because we closed the connection is no news to anyone.
    if (!wasClosed) reader?.end(error);
  }
}

/**
 * Idle connections per origin, most recently used first out.
 *
 * @example
 * ```ts
 * import { HttpConnectionPool } from "./http_connections.ts";
 * import assert from "node:assert/strict";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const pool = new HttpConnectionPool();
 * const origin = { hostname: "127.0.0.1", port: listener.addr.port, tls: false };
 * const connection = await pool.connect(origin);
 * const accepted = await listener.accept();
 * connection.release();
 * assert.equal(pool.take(origin), connection, "a released connection is taken again");
 * assert.equal(pool.take(origin), undefined);
 * connection.close();
 * accepted.close();
 * listener.close();
 * ```
 */
export class HttpConnectionPool {
  readonly #idle = new Map<string, HttpConnection[]>();
  readonly #caCerts: string[] | undefined;

  /** Creates a pool; `caCerts` (PEM) are trusted for TLS besides the system's roots. */
  constructor(options: { caCerts?: string[] } = {}) {
    this.#caCerts = options.caCerts;
  }

  /** An idle connection to `origin`, or `undefined` when none is left. */
  take(origin: Origin): HttpConnection | undefined {
    const connection = this.#idle.get(keyOf(origin))?.pop();
    connection?.unpark();
    return connection;
  }

  /** Opens a new connection to `origin`. */
  async connect(origin: Origin): Promise<HttpConnection> {
    const conn = origin.tls
      ? await Deno.connectTls({
        hostname: origin.hostname,
        port: origin.port,
        ...(this.#caCerts ? { caCerts: this.#caCerts } : {}),
      })
      : await Deno.connect({ hostname: origin.hostname, port: origin.port });
    if (!origin.tls) (conn as Deno.TcpConn).setNoDelay(true);
    return new HttpConnection(conn, this, keyOf(origin));
  }

  /** Closes every idle connection. */
  closeIdle(): void {
    for (const list of [...this.#idle.values()]) {
      for (const connection of [...list]) connection.close();
    }
    this.#idle.clear();
  }

  /** @internal Keeps `connection` for reuse; false when the pool is full. */
  park(key: string, connection: HttpConnection): boolean {
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    if (list.length >= MAX_IDLE) return false;
    list.push(connection);
    return true;
  }

  /** @internal Drops a closed `connection` from the idle list. */
  forget(key: string, connection: HttpConnection): void {
    const list = this.#idle.get(key);
    const at = list?.indexOf(connection) ?? -1;
    if (at !== -1) list?.splice(at, 1);
  }
}

function keyOf(origin: Origin): string {
  return `${origin.tls ? "s" : ""}${origin.hostname}:${origin.port}`;
}
