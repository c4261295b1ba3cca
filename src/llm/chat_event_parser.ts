/**
 * The incremental parser of an OpenAI-compatible streamed chat completion: bytes in, in any
 * split, text deltas out. Both body readers feed it: {@linkcode readChatStream} for a `fetch`
 * body, and the socket transport (`socket_chat_transport.ts`) straight from each read of its
 * connection, with no web stream per chunk.
 *
 * @module
 */

/** Builds the error to throw for an `error` event or a chunk carrying `error` (the SDK's error type). */
export type StreamErrorFactory = (error: unknown) => Error;

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

/**
 * A JSON string with nothing to unescape: its value is what lies between its quotes. (Raw
 * control characters are not JSON: such a string goes to `JSON.parse`, which says so.)
 */
// deno-lint-ignore no-control-regex
const PLAIN_STRING = /^"[^"\\\u0000-\u001f]*"$/;

/** The text the place of a chunk's delta is proven with: any would do. */
const PROBE = "probe";

/** A chunk's error, and its usage when it is an object: the parts that make it more than text. */
function extrasOf(chunk: unknown): { error: unknown; usage: Record<string, unknown> | undefined } {
  const o = chunk as { error?: unknown; usage?: unknown } | null;
  const usage = o?.usage;
  return {
    error: o?.error,
    usage: typeof usage === "object" && usage !== null
      ? usage as Record<string, unknown>
      : undefined,
  };
}

function tooLong(what: string): RangeError {
  return new RangeError(
    `The LLM's stream held ${what} longer than ${MAX_SSE_LINE} characters: it is not read further`,
  );
}

/** What {@linkcode ChatEventParser} calls. */
export interface ChatEventHandlers {
  /** Called with each non-empty text delta. */
  onDelta: (text: string) => void;
  /** Builds the error thrown for an `error` event or a chunk carrying `error`. */
  toError: StreamErrorFactory;
  /** Called with a chunk's `usage` (the last chunk, when the request asked for it). */
  onUsage?: ((usage: Record<string, unknown>) => void) | undefined;
}

/**
 * Parses the body as the WHATWG HTML standard's event stream: UTF-8 with one leading byte order
 * mark ignored; lines end at CRLF, LF or a lone CR (also when a read ends between the CR and the
 * LF); `field: value` with one optional space; comment lines start with `:`; an event is
 * dispatched at a blank line, and one left unfinished when the body ends is dropped. `push`
 * throws `toError(payload)` for an `error` event (its data as JSON, or `{message}` when it is
 * plain text) or a chunk carrying `error`, `SyntaxError` for other data that is not JSON, and
 * `RangeError` for a line or an event longer than {@linkcode MAX_SSE_LINE}.
 *
 * @example
 * ```ts
 * import { ChatEventParser } from "./chat_event_parser.ts";
 * import assert from "node:assert/strict";
 *
 * const deltas: string[] = [];
 * const parser = new ChatEventParser({
 *   onDelta: (d) => deltas.push(d),
 *   toError: (e) => new Error(String(e)),
 * });
 * const bytes = new TextEncoder().encode(
 *   'data: {"choices":[{"delta":{"content":"Hi"}}]}\r\n\r\ndata: [DONE]\n\n',
 * );
 * assert.equal(parser.push(bytes.subarray(0, 20)), false);
 * assert.equal(parser.push(bytes.subarray(20)), true, "[DONE] ends the answer");
 * assert.equal(parser.answer, "Hi");
 * assert.deepEqual(deltas, ["Hi"]);
 * ```
 */
export class ChatEventParser {
  /**
   * The deltas so far. Kept apart and joined once: text grown by `+=` is a chain of one object
   * per chunk, and a call's chain lives as long as the call, through every garbage collection.
   */
  #parts: string[] = [];
  #length = 0;
  readonly #handlers: ChatEventHandlers;
  // Strips one leading byte order mark, even split across reads, as the standard asks.
  readonly #decoder = new TextDecoder();
  #buffer = "";
  /** The last line ended with a CR at the end of a read: an LF opening the next is its pair. */
  #pendingLf = false;
  #event = "";
  #data = "";
  #hasData = false;
  /**
   * The JSON around the text of this answer's text chunks, learned from one: a server sends
   * every text chunk of an answer alike (id, model, time, the choice) but for the text, so a
   * chunk that is that JSON around a plain string is read without `JSON.parse`, whose work and
   * garbage were the largest cost per chunk left (BENCHMARKS.md, "Issue 17, second step").
   */
  #around: { before: string; after: string } | undefined;
  /**
   * Tries at learning it, and the chunks read with the one learned last: it is learned again
   * when a chunk does not fit (a server may stamp its chunks with the second, `created`) once it
   * has served a few, while a server whose every chunk differs is not tried for ever.
   */
  #learnings = 0;
  #hits = 0;

  /** Creates a parser that reports to `handlers`. */
  constructor(handlers: ChatEventHandlers) {
    this.#handlers = handlers;
  }

  /** Every delta so far, joined. */
  get answer(): string {
    const parts = this.#parts;
    if (parts.length > 1) this.#parts = [parts.join("")];
    return this.#parts[0] ?? "";
  }

  /** How many characters of answer have arrived. */
  get received(): number {
    return this.#length;
  }

  #add(text: string): void {
    this.#parts.push(text);
    this.#length += text.length;
    this.#handlers.onDelta(text);
  }

  /** Feeds the next bytes of the body; returns whether the stream said it is done. */
  push(bytes: Uint8Array): boolean {
    return this.#take(this.#decoder.decode(bytes, { stream: true }));
  }

  /** Ends the body: what is left is an unfinished line or event, which the standard drops. */
  end(): void {
    this.#take(this.#decoder.decode());
  }

  /** Handles one complete event; returns whether the stream said it is done. */
  #dispatch(): boolean {
    const payload = this.#data;
    const type = this.#event;
    this.#data = "";
    this.#hasData = false;
    this.#event = "";
    if (payload === "[DONE]") return true;
    if (type === "" && this.#around !== undefined) {
      const text = this.#textOf(payload, this.#around);
      if (text !== undefined) {
        this.#hits++;
        if (text !== "") this.#add(text);
        return false;
      }
    }
    const { toError } = this.#handlers;
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
    const { error, usage } = extrasOf(chunk);
    if (type === "error") throw toError(error ?? chunk);
    if (error) throw toError(error);
    const delta = deltaOf(chunk);
    if (delta) {
      this.#add(delta);
      if (type === "" && !usage && (this.#learnings < 2 || this.#hits >= 8)) {
        this.#learn(payload, delta);
      }
    }
    if (usage) this.#handlers.onUsage?.(usage);
    return false;
  }

  /** The text of `payload` when it is `around` a plain JSON string, else `undefined`. */
  #textOf(payload: string, around: { before: string; after: string }): string | undefined {
    const { before, after } = around;
    const end = payload.length - after.length;
    // `lastIndexOf(…, 0)`, not `startsWith`: the same test, four times faster on the sliced
    // strings the lines are (0.09 against 0.55 µs here), and this runs for every chunk.
    if (
      end - before.length < 2 || payload.lastIndexOf(before, 0) !== 0 || !payload.endsWith(after)
    ) {
      return undefined;
    }
    const literal = payload.slice(before.length, end);
    return PLAIN_STRING.test(literal) ? literal.slice(1, -1) : undefined;
  }

  /**
   * Learns the JSON around `delta` in `payload`, a text chunk with no error and no usage, when
   * its text appears there once; and proves it, not guessed: the same JSON around other text
   * must parse as a chunk whose delta is that text, with no error and no usage.
   */
  #learn(payload: string, delta: string): void {
    this.#learnings++;
    this.#hits = 0;
    const literal = JSON.stringify(delta);
    const at = payload.indexOf(literal);
    if (at === -1 || payload.indexOf(literal, at + 1) !== -1) return;
    const before = payload.slice(0, at);
    const after = payload.slice(at + literal.length);
    let probe: unknown;
    try {
      // Not JSON when the text was found across two strings (`","` in `"a","b"`).
      probe = JSON.parse(`${before}"${PROBE}"${after}`);
    } catch {
      return;
    }
    const { error, usage } = extrasOf(probe);
    if (deltaOf(probe) !== PROBE || error || usage) return;
    this.#around = { before, after };
  }

  /** Handles the line `buffer[start, end)`; returns whether the stream said it is done. */
  #line(start: number, end: number): boolean {
    const buffer = this.#buffer;
    if (start === end) {
      if (this.#hasData) return this.#dispatch();
      this.#event = "";
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
      this.#data = this.#hasData ? `${this.#data}\n${value}` : value;
      this.#hasData = true;
      if (this.#data.length > MAX_SSE_LINE) throw tooLong("an event");
    } else if (field === "event") {
      this.#event = value;
    } // `id` and `retry` mean nothing here; other fields are ignored, as the standard says
    return false;
  }

  /** Takes the complete lines out of the buffer; returns whether the stream said it is done. */
  #lines(): boolean {
    const buffer = this.#buffer;
    let start = 0;
    let lf = buffer.indexOf("\n");
    let cr = buffer.indexOf("\r");
    if (cr === -1) {
      // No CR in sight, as in nearly every stream: lines end at LF.
      while (lf !== -1) {
        if (this.#line(start, lf)) return true;
        start = lf + 1;
        // The blank line that ends most events straight after their one data line.
        if (this.#hasData && buffer.charCodeAt(start) === LF) {
          start++;
          if (this.#dispatch()) return true;
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
            this.#pendingLf = true;
          } else {
            next = buffer.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
          }
        } else {
          end = lf;
          next = lf + 1;
        }
        if (this.#line(start, end)) return true;
        start = next;
        if (lf !== -1 && lf < start) lf = buffer.indexOf("\n", start);
        if (cr !== -1 && cr < start) cr = buffer.indexOf("\r", start);
      }
    }
    this.#buffer = start === 0 ? buffer : buffer.slice(start);
    if (this.#buffer.length > MAX_SSE_LINE) throw tooLong("a line");
    return false;
  }

  #take(decoded: string): boolean {
    if (decoded === "") return false;
    if (this.#pendingLf) {
      this.#pendingLf = false;
      if (decoded.charCodeAt(0) === LF) decoded = decoded.slice(1);
    }
    this.#buffer = this.#buffer === "" ? decoded : this.#buffer + decoded;
    return this.#lines();
  }
}
