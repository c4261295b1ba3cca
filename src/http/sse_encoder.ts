/**
 * Server-Sent Events framing per the WHATWG HTML spec, and a TransformStream that turns
 * items into framed bytes for a response body. Knows nothing of jobs.
 *
 * @module
 */

import { setImmediate } from "node:timers";

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
 * import { encodeSse } from "./sse_encoder.ts";
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

/**
 * Frames a message whose data is JSON text, after the `head` lines (such as `id:` and `event:`,
 * each ending in LF). JSON text holds no raw CR or LF, so it is one `data:` line as it is:
 * the same bytes {@linkcode encodeSse} writes, without looking for line breaks.
 *
 * @example
 * ```ts
 * import { encodeSse, frameJson } from "./sse_encoder.ts";
 * import assert from "node:assert/strict";
 *
 * const json = JSON.stringify({ text: "a\nb" });
 * assert.equal(frameJson(json, "event: delta\n"), encodeSse({ event: "delta", data: json }));
 * ```
 */
export function frameJson(json: string, head = ""): string {
  return `${head}data: ${json}\n\n`;
}

/** Response headers for an event stream, proxies told not to buffer it. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** Options for {@linkcode SseStream}. */
export interface SseStreamOptions {
  /** How many items may wait unread before the writer reports back-pressure. */
  highWaterMark: number;
  /** Bytes to send before any item, such as a `retry:` line or a greeting. */
  preamble?: Uint8Array;
}

/**
 * Streams with frames waiting, sent together once the current task and its microtasks end. A
 * fresh array each time, not one `Set` cleared: a long-lived collection's discarded tables keep
 * what they held alive until a full collection (see `releasing_map.ts`), here every stream. A
 * stream listed twice is sent twice; the second finds nothing new, or what came since.
 */
let waiting: (() => void)[] = [];
let sendScheduled = false;

function sendWaiting(): void {
  sendScheduled = false;
  const sends = waiting;
  waiting = [];
  for (const send of sends) send();
}

function sendSoon(send: () => void): void {
  waiting.push(send);
  if (sendScheduled) return;
  sendScheduled = true;
  // Not `setTimeout(…, 0)`: nested timers are clamped to 4 ms. One callback serves every stream.
  setImmediate(sendWaiting);
}

/** Frames encoded but not yet handed to the response body. */
interface Pending {
  chunks: Uint8Array[];
  bytes: number;
  /** Settles once they are handed over; a full batch makes the writer wait for it. */
  sent: PromiseWithResolvers<void> | undefined;
}

function join(pending: Pending): Uint8Array {
  if (pending.chunks.length === 1) return pending.chunks[0] as Uint8Array;
  const out = new Uint8Array(pending.bytes);
  let at = 0;
  for (const chunk of pending.chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * A TransformStream from items to SSE bytes. The producer writes items to `writable` and sees
 * back-pressure through its writer's `desiredSize`; `readable` is the response body. `encode`
 * returns the framed bytes for an item, or `null` to skip it.
 *
 * The frames of the items written in one task of the event loop reach the body as one chunk, once
 * the task's microtasks have run: a job often logs several events in one task, and each chunk
 * costs a write on the server and a read on the client (a whole job's stream used to take 7 to
 * 15 of each). A reader that does not read still holds up the writer: once a chunk waits unread,
 * written items queue on the writable side until `desiredSize` drops to zero.
 *
 * @example
 * ```ts
 * import { encodeSse, SseStream } from "./sse_encoder.ts";
 * import assert from "node:assert/strict";
 *
 * const enc = new TextEncoder();
 * const stream = new SseStream((n: number) => enc.encode(encodeSse({ data: String(n) })), {
 *   highWaterMark: 4,
 * });
 * const writer = stream.writable.getWriter();
 * writer.write(1);
 * writer.write(2);
 * writer.close();
 * const reader = stream.readable.getReader();
 * // Written in the same task: one chunk.
 * assert.equal(new TextDecoder().decode((await reader.read()).value), "data: 1\n\ndata: 2\n\n");
 * assert.equal((await reader.read()).done, true);
 * ```
 */
export class SseStream<T> extends TransformStream<T, Uint8Array> {
  readonly #controller: TransformStreamDefaultController<Uint8Array>;
  readonly #pending: Pending;
  readonly #started: PromiseWithResolvers<void>;

  /** Creates the stream; `options.preamble` is sent before any item. */
  constructor(encode: (item: T) => Uint8Array | null, options: SseStreamOptions) {
    const { preamble } = options;
    const pending: Pending = { chunks: [], bytes: 0, sent: undefined };
    const started = Promise.withResolvers<void>();
    if (!preamble) started.resolve();
    let captured: TransformStreamDefaultController<Uint8Array> | undefined;
    const send = () => {
      const sent = pending.sent;
      pending.sent = undefined;
      if (pending.chunks.length > 0) {
        const chunk = join(pending);
        pending.chunks = [];
        pending.bytes = 0;
        try {
          captured?.enqueue(chunk);
        } catch {
          // Closed or aborted meanwhile: nobody is left to send it to.
        }
      }
      sent?.resolve();
      started.resolve();
    };
    const add = (bytes: Uint8Array): Promise<void> | undefined => {
      if (pending.chunks.length === 0) sendSoon(send);
      pending.chunks.push(bytes);
      pending.bytes += bytes.length;
      if (pending.chunks.length < options.highWaterMark) return undefined;
      // A full batch: the next item waits for it to be handed over, so what a reader that does
      // not read can hold stays bounded (this batch, one unread chunk, the writer's queue).
      pending.sent ??= Promise.withResolvers();
      return pending.sent.promise;
    };
    super(
      {
        start(controller) {
          captured = controller;
          if (preamble) add(preamble);
        },
        transform(item) {
          const bytes = encode(item);
          return bytes === null ? undefined : add(bytes);
        },
        flush() {
          send();
        },
      },
      new CountQueuingStrategy({ highWaterMark: options.highWaterMark }),
      new CountQueuingStrategy({ highWaterMark: 1 }),
    );
    this.#controller = captured as TransformStreamDefaultController<Uint8Array>;
    this.#pending = pending;
    this.#started = started;
  }

  /**
   * Settles once the first chunk (the preamble and what was written in the same task) is in
   * the body; at once for a stream without a preamble. A response handed to the server after it goes out as one write, its headers and
   * that chunk together, rather than the headers first and the chunk a moment later.
   */
  get started(): Promise<void> {
    return this.#started.promise;
  }

  /**
   * Ends both sides at once, dropping whatever is queued: for a client that is gone or stuck.
   * Aborting the writer alone is not enough, since it waits for a write that is blocked on a
   * reader who never reads.
   */
  abort(reason: unknown): void {
    this.#pending.chunks = [];
    this.#pending.bytes = 0;
    this.#pending.sent?.resolve();
    this.#started.resolve();
    try {
      this.#controller.error(reason);
    } catch {
      // Already closed or errored.
    }
  }
}
