/**
 * Reads the event stream of an OpenAI-compatible streaming chat completion: the text deltas, in
 * order, until `data: [DONE]` or the end of the body.
 *
 * The `openai` SDK still makes the request (base URL, auth, status errors); only the body is read
 * here. The SDK's own stream iterator cost 65-90 µs of CPU per chunk, through layers of async
 * generators, and a job streams hundreds of chunks: that was most of the service's CPU with a
 * real LLM behind it (BENCHMARKS.md). This reader is one loop over the body's bytes. Against
 * `npm:eventsource-parser` doing the same job (`bench/chat_stream_readers.ts`) it is as fast
 * when reads hold whole events and faster when events are cut across reads.
 *
 * @module
 */

import { describeError } from "../core/describe_error.ts";

/** Builds the error to throw for an `error` event or a chunk carrying `error` (the SDK's error type). */
export type StreamErrorFactory = (error: unknown) => Error;

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
 * The longest line, and the most data one event may gather, in UTF-16 code units (1 Mi). A
 * chunk of a chat stream is a few hundred bytes; a body that goes on past this without a line
 * break or an event end is broken, and reading on would only grow memory.
 */
export const MAX_SSE_LINE = 1 << 20;

const LF = 10;
const SPACE = 32;

function deltaOf(chunk: unknown): string | undefined {
  if (typeof chunk !== "object" || chunk === null) return undefined;
  const choices = (chunk as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return undefined;
  const delta = (choices[0] as { delta?: { content?: unknown } } | undefined)?.delta?.content;
  return typeof delta === "string" ? delta : undefined;
}

function tooLong(what: string): RangeError {
  return new RangeError(
    `The LLM's stream held ${what} longer than ${MAX_SSE_LINE} characters: it is not read further`,
  );
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
  const { signal, toError } = options;
  const reader = body.getReader();
  // Strips one leading byte order mark, even split across reads, as the standard asks.
  const decoder = new TextDecoder();
  let buffer = "";
  /** The last line ended with a CR at the end of a read: an LF opening the next is its pair. */
  let pendingLf = false;
  let event = "";
  let data = "";
  let hasData = false;
  let answer = "";
  let finished = false;

  /** Handles one complete event; returns whether the stream said it is done. */
  const dispatch = (): boolean => {
    const payload = data;
    const type = event;
    data = "";
    hasData = false;
    event = "";
    if (payload === "[DONE]") return true;
    let chunk: unknown;
    try {
      chunk = JSON.parse(payload);
    } catch {
      // Some servers say what went wrong in plain words.
      if (type === "error") throw toError({ message: payload });
      if (payload === "") return false;
      throw new SyntaxError(
        `The LLM's stream held an event that is not JSON: ${JSON.stringify(payload.slice(0, 80))}`,
      );
    }
    const error = (chunk as { error?: unknown } | null)?.error;
    if (type === "error") throw toError(error ?? chunk);
    if (error) throw toError(error);
    const delta = deltaOf(chunk);
    if (delta) {
      answer += delta;
      onDelta(delta);
    }
    const usage = (chunk as { usage?: unknown } | null)?.usage;
    if (typeof usage === "object" && usage !== null) {
      options.onUsage?.(usage as Record<string, unknown>);
    }
    return false;
  };

  /** Handles the line `buffer[start, end)`; returns whether the stream said it is done. */
  const line = (start: number, end: number): boolean => {
    if (start === end) {
      if (hasData) return dispatch();
      event = "";
      return false;
    }
    let field: string;
    let value: string;
    // The common line first: every chunk of the answer is one `data: {...}` line.
    if (buffer.startsWith("data:", start)) {
      field = "data";
      value = buffer.slice(buffer.charCodeAt(start + 5) === SPACE ? start + 6 : start + 5, end);
    } else {
      const colon = buffer.indexOf(":", start);
      if (colon === start) return false; // a comment
      if (colon === -1 || colon > end) {
        field = buffer.slice(start, end);
        value = "";
      } else {
        field = buffer.slice(start, colon);
        value = buffer.slice(buffer.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1, end);
      }
    }
    if (field === "data") {
      data = hasData ? `${data}\n${value}` : value;
      hasData = true;
      if (data.length > MAX_SSE_LINE) throw tooLong("an event");
    } else if (field === "event") {
      event = value;
    } // `id` and `retry` mean nothing here; other fields are ignored, as the standard says
    return false;
  };

  /** Takes the complete lines out of `buffer`; returns whether the stream said it is done. */
  const lines = (): boolean => {
    let start = 0;
    let lf = buffer.indexOf("\n");
    let cr = buffer.indexOf("\r");
    if (cr === -1) {
      // No CR in sight, as in nearly every stream: lines end at LF.
      while (lf !== -1) {
        if (line(start, lf)) return true;
        start = lf + 1;
        // The blank line that ends most events straight after their one data line.
        if (hasData && buffer.charCodeAt(start) === LF) {
          start++;
          if (dispatch()) return true;
        }
        lf = buffer.indexOf("\n", start);
      }
    } else {
      // Each looked up again only once passed.
      while (lf !== -1 || cr !== -1) {
        let end: number;
        let next: number;
        if (cr !== -1 && (lf === -1 || cr < lf)) {
          end = cr;
          if (cr + 1 === buffer.length) {
            next = cr + 1;
            pendingLf = true;
          } else {
            next = buffer.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
          }
        } else {
          end = lf;
          next = lf + 1;
        }
        if (line(start, end)) return true;
        start = next;
        if (lf !== -1 && lf < start) lf = buffer.indexOf("\n", start);
        if (cr !== -1 && cr < start) cr = buffer.indexOf("\r", start);
      }
    }
    buffer = start === 0 ? buffer : buffer.slice(start);
    if (buffer.length > MAX_SSE_LINE) throw tooLong("a line");
    return false;
  };

  const take = (decoded: string): boolean => {
    if (decoded === "") return false;
    if (pendingLf) {
      pendingLf = false;
      if (decoded.charCodeAt(0) === LF) decoded = decoded.slice(1);
    }
    buffer = buffer === "" ? decoded : buffer + decoded;
    return lines();
  };

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
        throw new StreamCutError(answer.length, { cause: error });
      }
      const { value, done } = read;
      if (done) {
        // What is left is an unfinished line or event: the standard drops it.
        take(decoder.decode());
        break;
      }
      finished = take(decoder.decode(value, { stream: true }));
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
  return answer;
}
