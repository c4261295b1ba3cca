/**
 * Reads the event stream of an OpenAI-compatible streaming chat completion: the text deltas, in
 * order, until `data: [DONE]` or the end of the body.
 *
 * The `openai` SDK still makes the request (base URL, auth, status errors); only the body is read
 * here. The SDK's own stream iterator cost 65-90 µs of CPU per chunk, through layers of async
 * generators, and a job streams hundreds of chunks: that was most of the service's CPU with a
 * real LLM behind it (BENCHMARKS.md). This reader is one loop over the body's bytes.
 *
 * @module
 */

/** Builds the error to throw for an `error` event or a chunk carrying `error` (the SDK's error type). */
export type StreamErrorFactory = (error: unknown) => Error;

function deltaOf(chunk: unknown): string | undefined {
  if (typeof chunk !== "object" || chunk === null) return undefined;
  const choices = (chunk as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return undefined;
  const delta = (choices[0] as { delta?: { content?: unknown } } | undefined)?.delta?.content;
  return typeof delta === "string" ? delta : undefined;
}

/**
 * Reads `body`, calls `onDelta` with each non-empty text delta, and resolves with their
 * concatenation. Throws `signal.reason` once `signal` is aborted (a cut-off stream is never
 * returned as a finished answer), `toError(payload)` for an `error` event or a chunk carrying
 * `error`, and `SyntaxError` for data that is not JSON. A chunk carrying `usage` (the last one,
 * when the request asked for `stream_options.include_usage`) is handed to `onUsage`.
 *
 * @example
 * ```ts
 * import { readChatStream } from "./chat_stream.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new Response(
 *   'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n' +
 *     'data: {"choices":[{"delta":{"content":"Hello"}}]}\r\n\r\n' +
 *     ': keep-alive\n\n' +
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
  const text = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let answer = "";
  let finished = false;

  /** Handles one complete event; returns whether the stream said it is done. */
  const dispatch = (): boolean => {
    const payload = data.join("\n");
    const type = event;
    data = [];
    event = "";
    if (payload === "[DONE]") return true;
    let chunk: unknown;
    try {
      chunk = JSON.parse(payload);
    } catch {
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

  /** Takes the complete lines out of `buffer`; returns whether the stream said it is done. */
  const lines = (): boolean => {
    let start = 0;
    for (;;) {
      const end = buffer.indexOf("\n", start);
      if (end === -1) break;
      let line = buffer.slice(start, end);
      start = end + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data.length > 0 && dispatch()) return true;
        event = "";
      } else if (line.startsWith("data:")) {
        data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
      } else if (line.startsWith("event:")) {
        event = line.slice(line.charCodeAt(6) === 32 ? 7 : 6);
      } // comments, `id:` and `retry:` mean nothing here
    }
    buffer = buffer.slice(start);
    return false;
  };

  // Ends a read that is waiting on a stalled body at once, whatever the body does on abort.
  const stop = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    signal.throwIfAborted();
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) {
        buffer += text.decode() + "\n\n"; // a last event without its blank line still counts
        finished = true;
        lines();
        break;
      }
      buffer += text.decode(value, { stream: true });
      finished = lines();
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
