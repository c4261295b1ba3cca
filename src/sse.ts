/**
 * Server-Sent Events framing per the WHATWG HTML spec, and a TransformStream that turns
 * items into framed bytes for a response body. Knows nothing of jobs.
 *
 * @module
 */

/** One server-sent message. Every field is optional; an empty message is a no-op. */
export interface SseMessage {
  /** Last-event id; must not contain CR, LF or NUL. */
  id?: string | number;
  /** Event type; must not contain CR or LF. */
  event?: string;
  /** Payload; CR, LF and CRLF split it over several `data:` lines. */
  data?: string;
  /** Reconnection time in ms, a non-negative integer. */
  retry?: number;
  /** A comment line, ignored by clients; used for heartbeats. */
  comment?: string;
}

const LINE_BREAK = /\r\n|\r|\n/;

/**
 * Frames one message. Every frame ends with a blank line, so clients dispatch it at once.
 *
 * @example Multi-line data becomes several `data:` lines
 * ```ts
 * import { encodeSse } from "./sse.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   encodeSse({ id: 7, event: "delta", data: "a\nb" }),
 *   "id: 7\nevent: delta\ndata: a\ndata: b\n\n",
 * );
 * ```
 */
export function encodeSse(message: SseMessage): string {
  let out = "";
  if (message.comment !== undefined) {
    for (const line of message.comment.split(LINE_BREAK)) out += `: ${line}\n`;
  }
  if (message.id !== undefined) {
    const id = String(message.id);
    if (/[\r\n\0]/.test(id)) {
      throw new TypeError(
        `Cannot encode SSE id as it contains CR, LF or NUL: ${JSON.stringify(id)}`,
      );
    }
    out += `id: ${id}\n`;
  }
  if (message.event !== undefined) {
    if (/[\r\n]/.test(message.event)) {
      throw new TypeError(
        `Cannot encode SSE event as it contains CR or LF: ${JSON.stringify(message.event)}`,
      );
    }
    out += `event: ${message.event}\n`;
  }
  if (message.retry !== undefined) {
    if (!Number.isInteger(message.retry) || message.retry < 0) {
      throw new RangeError(
        `Cannot encode SSE retry as it must be a non-negative integer: current value is ${message.retry}`,
      );
    }
    out += `retry: ${message.retry}\n`;
  }
  if (message.data !== undefined) {
    for (const line of message.data.split(LINE_BREAK)) out += `data: ${line}\n`;
  }
  return out === "" ? "" : out + "\n";
}

/** Response headers for an event stream, proxies told not to buffer it. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** Options for {@linkcode createSseStream}. */
export interface SseStreamOptions {
  /** How many items may wait unread before the writer reports back-pressure. */
  highWaterMark: number;
  /** Bytes to send before any item, such as a `retry:` line or a greeting. */
  preamble?: Uint8Array;
}

/**
 * A TransformStream from items to SSE bytes. The producer writes items to `writable` and sees
 * back-pressure through its writer's `desiredSize`; `readable` is the response body. `encode`
 * returns the framed bytes for an item, or `null` to skip it.
 *
 * @example
 * ```ts
 * import { encodeSse, SseStream } from "./sse.ts";
 * import assert from "node:assert/strict";
 *
 * const enc = new TextEncoder();
 * const stream = new SseStream((n: number) => enc.encode(encodeSse({ data: String(n) })), {
 *   highWaterMark: 4,
 * });
 * const writer = stream.writable.getWriter();
 * writer.write(1);
 * writer.close();
 * assert.equal(await new Response(stream.readable).text(), "data: 1\n\n");
 * ```
 */
export class SseStream<T> extends TransformStream<T, Uint8Array> {
  readonly #controller: TransformStreamDefaultController<Uint8Array>;

  /** Creates the stream; `options.preamble` is sent before any item. */
  constructor(encode: (item: T) => Uint8Array | null, options: SseStreamOptions) {
    const { preamble } = options;
    let captured: TransformStreamDefaultController<Uint8Array> | undefined;
    super(
      {
        start(controller) {
          captured = controller;
          if (preamble) controller.enqueue(preamble);
        },
        transform(item, controller) {
          const bytes = encode(item);
          if (bytes !== null) controller.enqueue(bytes);
        },
      },
      new CountQueuingStrategy({ highWaterMark: options.highWaterMark }),
      new CountQueuingStrategy({ highWaterMark: 1 }),
    );
    this.#controller = captured as TransformStreamDefaultController<Uint8Array>;
  }

  /**
   * Ends both sides at once, dropping whatever is queued: for a client that is gone or stuck.
   * Aborting the writer alone is not enough, since it waits for a write that is blocked on a
   * reader who never reads.
   */
  abort(reason: unknown): void {
    try {
      this.#controller.error(reason);
    } catch {
      // Already closed or errored.
    }
  }
}
