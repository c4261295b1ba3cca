/**
 * Reads the event stream of an OpenAI-compatible streaming chat completion: the text deltas, in
 * order, until `data: [DONE]` or the end of the body.
 *
 * Used when the `openai` client is given a `fetch` or a reader of its own: the SDK makes the
 * request (base URL, auth, status errors) and only the body is read here; by default streamed
 * requests go over a socket of their own (`socket_chat_transport.ts`), through the same parser
 * (`chat_event_parser.ts`). The SDK's own stream iterator cost 65-90 µs of CPU per chunk, through layers of async
 * generators, and a job streams hundreds of chunks: that was most of the service's CPU with a
 * real LLM behind it (BENCHMARKS.md). This reader is one loop over the body's bytes. Against
 * `npm:eventsource-parser` doing the same job (`bench/chat_stream_readers.ts`) it is as fast
 * when reads hold whole events and faster when events are cut across reads.
 *
 * @module
 */

import { describeError } from "../core/describe_error.ts";
import { ChatEventParser, type StreamErrorFactory } from "./chat_event_parser.ts";

export { MAX_SSE_LINE, type StreamErrorFactory } from "./chat_event_parser.ts";

/**
 * Thrown when the body breaks off (the connection closed) before the stream said it was done:
 * the answer is incomplete, and asking again may well get all of it.
 */
export class StreamCutError extends Error {
  /** Characters of answer text that arrived before the cut. */
  readonly received: number;
  /** Creates the error for a stream cut after `received` characters; `cause` is the read error. */
  constructor(received: number, options?: ErrorOptions) {
    super(
      `The LLM's answer broke off after ${received} characters: ${
        describeError(options?.cause ?? "the connection closed")
      }`,
      options,
    );
    this.name = "StreamCutError";
    this.received = received;
  }
}

/**
 * Reads `body`, calls `onDelta` with each non-empty text delta, and resolves with their
 * concatenation. Throws `signal.reason` once `signal` is aborted (a cut-off stream is never
 * returned as a finished answer), {@linkcode StreamCutError} when the body fails to read (the
 * connection broke), `toError(payload)` for an `error` event (its data as JSON, or `{message}`
 * when it is plain text) or a chunk carrying `error`, `SyntaxError` for other data that is not
 * JSON, and `RangeError` for a line or an event longer than {@linkcode MAX_SSE_LINE}. A chunk
 * carrying `usage` (the last one, when the request asked for `stream_options.include_usage`) is
 * handed to `onUsage`.
 *
 * The body is parsed as the WHATWG HTML standard's event stream: UTF-8 with one leading byte
 * order mark ignored; lines end at CRLF, LF or a lone CR (also when a chunk ends between the CR
 * and the LF); `field: value` with one optional space; comment lines start with `:`; an event
 * is dispatched at a blank line, and one left unfinished when the body ends is dropped.
 *
 * @example
 * ```ts
 * import { readChatStream } from "./chat_completion_reader.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new Response(
 *   'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n' +
 *     'data: {"choices":[{"delta":{"content":"Hello"}}]}\r\n\r\n' +
 *     ': keep-alive\r\r' +
 *     'data: {"choices":[{"delta":{"content":", world"}}]}\n\n' +
 *     "data: [DONE]\n\n",
 * ).body!;
 * const deltas: string[] = [];
 * const text = await readChatStream(body, (d) => deltas.push(d), {
 *   signal: new AbortController().signal,
 *   toError: (e) => new Error(String(e)),
 * });
 * assert.equal(text, "Hello, world");
 * assert.deepEqual(deltas, ["Hello", ", world"]);
 * ```
 */
export async function readChatStream(
  body: ReadableStream<Uint8Array>,
  onDelta: (text: string) => void,
  options: {
    signal: AbortSignal;
    toError: StreamErrorFactory;
    onUsage?: (usage: Record<string, unknown>) => void;
  },
): Promise<string> {
  const { signal } = options;
  const reader = body.getReader();
  const parser = new ChatEventParser({
    onDelta,
    toError: options.toError,
    onUsage: options.onUsage,
  });
  let finished = false;

  // Ends a read that is waiting on a stalled body at once, whatever the body does on abort.
  const stop = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    signal.throwIfAborted();
    while (!finished) {
      let read: ReadableStreamReadResult<Uint8Array>;
      try {
        read = await reader.read();
      } catch (error) {
        // Deno says only "error reading a body from connection": say it was cut, and where.
        if (signal.aborted) throw signal.reason;
        throw new StreamCutError(parser.received, { cause: error });
      }
      const { value, done } = read;
      if (done) {
        parser.end();
        break;
      }
      finished = parser.push(value);
    }
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw error;
  } finally {
    signal.removeEventListener("abort", stop);
    // Stops the download after `[DONE]` or an error; a no-op once the body has ended.
    reader.cancel().catch(() => {});
  }
  if (signal.aborted) throw signal.reason;
  return parser.answer;
}
