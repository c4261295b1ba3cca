/**
 * Sends a streamed chat-completion request as HTTP/1.1 on a kept-alive socket of its own pool
 * (`http_connections.ts`) and feeds the body's bytes, as they arrive, into a
 * {@linkcode ChatEventParser}.
 *
 * Why not `fetch` or `node:http`: each costs objects and calls per chunk (a web stream's read
 * request and result; an emitter chain and a `Buffer`), and at a few hundred streams at once the
 * per-chunk cost is what bounds one process. Reading the socket directly cost about half of
 * `node:http` per chunk (BENCHMARKS.md, "Issue 17, third step").
 *
 * @module
 */

import { StreamCutError } from "./chat_completion_reader.ts";
import { type ChatEventHandlers, ChatEventParser } from "./chat_event_parser.ts";
import { Http1Response } from "./http1_response.ts";
import { type HttpConnection, HttpConnectionPool, type Origin } from "./http_connections.ts";

/** One streamed request, as the SDK built it. */
export interface ChatRequest {
  /** The endpoint, `http:` or `https:`. */
  url: string;
  /** Request headers (auth, content type, the SDK's own), lower-case names. */
  headers: Readonly<Record<string, string>>;
  /** The JSON request body. */
  body: string;
  /** Ends the request, the connection with it, at once. */
  signal: AbortSignal;
}

/** How {@linkcode streamChatOverSocket} turns failures into the provider's errors. */
export interface ChatTransportErrors {
  /** The error for an answer whose status is not 2xx; `text` is its body. */
  status(status: number, text: string, headers: Headers): Error;
  /** The error for an `error` event or a chunk carrying `error`; `headers` are the answer's. */
  stream(payload: unknown, headers: Headers): Error;
  /** The error for a request that got no answer (refused, reset before the headers). */
  connection(cause: Error): Error;
}

/** How long a body may stay open after its `[DONE]` before the connection is hung up on. */
const DONE_GRACE_MS = 1_000;
/** The most bytes of an error answer's body kept for its message. */
const MAX_ERROR_BODY = 64 * 1024;

const encoder = new TextEncoder();
const sharedPool = new HttpConnectionPool();

/** The request's bytes: its head (host, the given headers, the length) and its body. */
function requestBytes(url: URL, headers: Readonly<Record<string, string>>, body: string) {
  const payload = encoder.encode(body);
  let head = `POST ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const name in headers) {
    // The length is ours; an encoding we would have to undo is not asked for.
    if (name === "content-length" || name === "host" || name === "accept-encoding") continue;
    head += `${name}: ${headers[name]}\r\n`;
  }
  head += `content-length: ${payload.length}\r\n\r\n`;
  const bytes = new Uint8Array(head.length * 3 + payload.length);
  const written = encoder.encodeInto(head, bytes).written;
  bytes.set(payload, written);
  return bytes.subarray(0, written + payload.length);
}

function originOf(url: URL): Origin {
  const tls = url.protocol === "https:";
  if (!tls && url.protocol !== "http:") throw new TypeError(`Not an HTTP URL: ${url.href}`);
  return {
    // `[::1]` is written with brackets in a URL, connected to without them.
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? (tls ? 443 : 80) : Number(url.port),
    tls,
  };
}

/**
 * Makes `request` and resolves with the answer's text once the stream said `[DONE]` or the body
 * ended; `handlers` get each delta and the usage as they arrive. Rejects with `signal.reason`
 * once it is aborted and the connection closed (the request is never sent again),
 * `errors.status(...)` for a non-2xx answer, `errors.connection(...)` when no answer came,
 * `errors.stream(...)` for an error the stream carried, {@linkcode StreamCutError} when the body
 * broke off, and whatever the parser throws (an error event, a bad chunk, a line too long), each
 * time with the connection closed. A kept-alive connection the server closed before answering
 * is replaced by a new one once, as browsers and `fetch` do.
 *
 * @example
 * ```ts
 * import { streamChatOverSocket } from "./socket_chat_transport.ts";
 * import { HttpConnectionPool } from "./http_connections.ts";
 * import assert from "node:assert/strict";
 *
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response('data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n'));
 * const pool = new HttpConnectionPool();
 * const deltas: string[] = [];
 * const answer = await streamChatOverSocket(
 *   {
 *     url: `http://127.0.0.1:${server.addr.port}/v1/chat/completions`,
 *     headers: { authorization: "Bearer k", "content-type": "application/json" },
 *     body: '{"stream":true}',
 *     signal: new AbortController().signal,
 *   },
 *   { onDelta: (delta) => deltas.push(delta) },
 *   { status: (code) => new Error(`HTTP ${code}`), stream: () => new Error("stream"), connection: (e) => e },
 *   pool,
 * );
 * assert.equal(answer, "Hi");
 * assert.deepEqual(deltas, ["Hi"]);
 * pool.closeIdle();
 * await server.shutdown();
 * ```
 */
export function streamChatOverSocket(
  request: ChatRequest,
  handlers: Omit<ChatEventHandlers, "toError">,
  errors: ChatTransportErrors,
  pool: HttpConnectionPool = sharedPool,
): Promise<string> {
  const { signal } = request;
  if (signal.aborted) return Promise.reject(signal.reason);
  const url = new URL(request.url);
  const origin = originOf(url);
  const bytes = requestBytes(url, request.headers, request.body);
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let answered = new Headers();
  const parser = new ChatEventParser({
    ...handlers,
    toError: (payload) => errors.stream(payload, answered),
  });
  let settled = false;
  let connection: HttpConnection | undefined;
  let doneTimer: ReturnType<typeof setTimeout> | undefined;
  /** Ends the current try, so the loop below stops with it. */
  let endTry: ((outcome: "done" | "again") => void) | undefined;
  const finish = (error: unknown, answer?: string) => {
    if (settled) return;
    settled = true;
    signal.removeEventListener("abort", onAbort);
    if (error === undefined) resolve(answer ?? "");
    else reject(error);
  };
  const hangUp = () => {
    clearTimeout(doneTimer);
    connection?.close();
    endTry?.("done");
  };
  /** Settles with `error` once the connection is closed: nothing of the request is left going. */
  const abandon = (error: unknown) => {
    hangUp();
    finish(error);
  };
  const onAbort = () => abandon(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });

  /** One try on `conn`; "again" when a reused connection turned out dead, unanswered. */
  const exchange = (conn: HttpConnection): Promise<"done" | "again"> => {
    const { promise: tried, resolve: triedWith } = Promise.withResolvers<"done" | "again">();
    endTry = triedWith;
    /** Whether any byte came back: a reused connection closed before any is tried anew. */
    let heard = false;
    /** An error answer's text so far, decoded as it comes (its first 64 KiB). */
    let errorBody: { text: string; bytes: number; decoder: TextDecoder } | undefined;
    const finishWithStatus = (body: NonNullable<typeof errorBody>) =>
      finish(errors.status(response.status, body.text + body.decoder.decode(), answered));
    const response = new Http1Response((piece) => {
      if (errorBody) {
        if (errorBody.bytes < MAX_ERROR_BODY) {
          errorBody.text += errorBody.decoder.decode(piece, { stream: true });
        }
        errorBody.bytes += piece.length;
        return;
      }
      if (settled) {
        // Bytes after `[DONE]` other than the body's end: a server that sends more is hung up on.
        hangUp();
        return;
      }
      if (parser.push(piece)) {
        finish(undefined, parser.answer);
        // The body's end frees the connection for the next call; one that does not come soon
        // is not waited for.
        doneTimer = setTimeout(hangUp, DONE_GRACE_MS);
        Deno.unrefTimer(doneTimer);
      }
    }, () => {
      answered = response.headers;
      if (response.status < 200 || response.status >= 300) {
        errorBody = { text: "", bytes: 0, decoder: new TextDecoder() };
      }
    });
    const ended = () => {
      clearTimeout(doneTimer);
      if (errorBody) finishWithStatus(errorBody);
      else if (!settled) {
        parser.end();
        finish(undefined, parser.answer);
      }
      if (response.reusable) conn.release();
      else conn.close();
      triedWith("done");
    };
    const fail = (error: unknown) => {
      hangUp();
      if (settled) return;
      // An error answer cut short: its status says enough.
      if (errorBody) finishWithStatus(errorBody);
      else if (response.headed) {
        // Said as Deno's `fetch` says it, with the socket's own words after: a user's logs and
        // the failure reason (llm_failure.ts) read the same whichever transport ran.
        const cause = new Error(
          `error reading a body from connection: ${
            error instanceof Error ? error.message : "the server closed it"
          }`,
          error instanceof Error ? { cause: error } : {},
        );
        finish(new StreamCutError(parser.received, { cause }));
      } else {
        finish(errors.connection(error instanceof Error ? error : new Error(String(error))));
      }
    };
    const reader = {
      data(piece: Uint8Array) {
        heard = true;
        try {
          if (response.feed(piece)) {
            // Anything past the response answers nothing we asked: not reusable.
            if (response.used < piece.length) response.reusable = false;
            ended();
          }
        } catch (error) {
          // A bad response, or what the parser threw for the stream (an error event).
          abandon(error);
        }
      },
      end(error?: unknown) {
        if (settled && !errorBody) {
          triedWith("done");
          return;
        }
        if (error === undefined && response.close()) {
          try {
            ended();
          } catch (error) {
            // What the parser threw for the stream's last event.
            abandon(error);
          }
          return;
        }
        if (conn.reused && !heard && !signal.aborted) {
          triedWith("again");
          return;
        }
        fail(error ?? new Error("the server closed the connection"));
      },
    };
    conn.send(bytes, reader).catch((error) => {
      if (conn.closed && settled) return;
      if (conn.reused && !heard && !signal.aborted) {
        conn.close();
        triedWith("again");
      } else fail(error);
    });
    return tried;
  };

  (async () => {
    let conn = pool.take(origin);
    for (;;) {
      if (!conn) {
        try {
          conn = await pool.connect(origin);
        } catch (error) {
          finish(errors.connection(error instanceof Error ? error : new Error(String(error))));
          return;
        }
      }
      if (settled) {
        // Aborted while connecting.
        conn.close();
        return;
      }
      connection = conn;
      if (await exchange(conn) === "done") return;
      // A kept-alive connection the server had closed: once more, on a new one.
      conn = undefined;
    }
  })();
  return promise;
}
