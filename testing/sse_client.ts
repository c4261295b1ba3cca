/**
 * A spec-following Server-Sent Events reader for tests and benchmarks: it parses a response body
 * the way a browser's EventSource does (CR, LF and CRLF line ends; `data:` lines joined with LF;
 * the optional space after the colon; comments), and also reports comments so heartbeats can be
 * seen.
 *
 * @module
 */

/** One dispatched event, or a comment line. */
export interface SseEvent {
  /** The `id:` in force when the event was dispatched (EventSource's `lastEventId`). */
  id: string;
  /** `message` when no `event:` field was given. */
  event: string;
  data: string;
  /** Set for a comment line (`: ping`); other fields are then empty. */
  comment?: string;
  /** The `retry:` value, when the block set one. */
  retry?: number;
}

/**
 * How long a test waits for an event stream to end before it fails: a stream left open would
 * otherwise hang the suite. Generous on purpose: it detects hangs, it is not a speed test.
 */
export const STREAM_END_TIMEOUT_MS = 30_000;

/** Options for {@linkcode readSse} and {@linkcode collectEvents}. */
export interface ReadSseOptions {
  /**
   * Fail (cancel the body and throw) when the stream has not ended this long after reading
   * began; default {@linkcode STREAM_END_TIMEOUT_MS}, `Infinity` for no bound.
   */
  timeoutMs?: number;
  /** Names the stream in the timeout message, such as its URL. */
  what?: string;
}

/**
 * Reads events from an SSE byte stream until it ends, or throws once `timeoutMs` has passed
 * without its end. Comment lines are yielded as events with `comment` set.
 *
 * @example
 * ```ts
 * import { readSse } from "./sse_client.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new Response("id: 1\nevent: x\ndata: a\ndata: b\n\n: ping\n\n").body!;
 * const events = await Array.fromAsync(readSse(body));
 * assert.equal(events[0]?.data, "a\nb");
 * assert.equal(events[1]?.comment, "ping");
 * ```
 */
export async function* readSse(
  body: ReadableStream<Uint8Array>,
  options: ReadSseOptions = {},
): AsyncGenerator<SseEvent> {
  const { timeoutMs = STREAM_END_TIMEOUT_MS, what = "the event stream" } = options;
  const reader = body.getReader();
  let timedOut = false;
  let ended = false;
  const timer = Number.isFinite(timeoutMs)
    ? setTimeout(() => {
      timedOut = true;
      reader.cancel().catch(() => {});
    }, timeoutMs)
    : undefined;
  const decoder = new TextDecoder();
  let buffer = "";
  let lastId = "";
  let event = "";
  let data: string[] = [];
  let retry: number | undefined;
  let sawCr = false;
  let count = 0;
  try {
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(chunk, { stream: true });
      let start = 0;
      for (let i = 0; i < buffer.length; i++) {
        const c = buffer[i];
        if (c !== "\n" && c !== "\r") continue;
        if (c === "\n" && sawCr && i === start) {
          // The LF of a CRLF whose CR ended the previous line.
          sawCr = false;
          start = i + 1;
          continue;
        }
        sawCr = c === "\r";
        const line = buffer.slice(start, i);
        start = i + 1;
        if (line === "") {
          if (data.length > 0) {
            count++;
            yield {
              id: lastId,
              event: event || "message",
              data: data.join("\n"),
              ...(retry === undefined ? {} : { retry }),
            };
          }
          event = "";
          data = [];
          retry = undefined;
          continue;
        }
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "") yield { id: lastId, event: "", data: "", comment: value };
        else if (field === "data") data.push(value);
        else if (field === "event") event = value;
        else if (field === "id" && !value.includes("\0")) lastId = value;
        else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
      }
      buffer = buffer.slice(start);
      if (buffer === "" && sawCr) {
        // keep sawCr so a CRLF split across chunks is one line end
      } else if (buffer !== "") {
        sawCr = false;
      }
    }
    ended = !timedOut;
  } finally {
    clearTimeout(timer);
    // Left early (the consumer stopped, or the body failed): let go of the connection.
    if (!ended) await reader.cancel().catch(() => {});
  }
  if (timedOut) {
    throw new Error(
      `${what} did not end within ${timeoutMs} ms (${count} events read, last id ` +
        `${JSON.stringify(lastId)})`,
    );
  }
}

/**
 * Opens `url` and collects every non-comment event until the server ends the stream; throws when
 * it has not ended within `options.timeoutMs` (default {@linkcode STREAM_END_TIMEOUT_MS}).
 */
export async function collectEvents(
  url: string,
  init: RequestInit = {},
  options: Pick<ReadSseOptions, "timeoutMs"> = {},
): Promise<SseEvent[]> {
  const { timeoutMs = STREAM_END_TIMEOUT_MS } = options;
  // One deadline for the answer and the whole body: a server that never answers hangs as well.
  const deadline = new AbortController();
  const timer = Number.isFinite(timeoutMs) ? setTimeout(() => deadline.abort(), timeoutMs) : 0;
  const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
  const events: SseEvent[] = [];
  try {
    const response = await fetch(url, { ...init, signal });
    if (!response.ok || !response.body) {
      const text = await response.text();
      throw new Error(`GET ${url} answered ${response.status}: ${text}`);
    }
    for await (const event of readSse(response.body, { timeoutMs: Infinity })) {
      if (event.comment === undefined) events.push(event);
    }
    return events;
  } catch (error) {
    if (!deadline.signal.aborted) throw error;
    throw new Error(
      `GET ${url}: the event stream did not end within ${timeoutMs} ms (${events.length} ` +
        `events read, last id ${JSON.stringify(events.at(-1)?.id ?? "")})`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}
