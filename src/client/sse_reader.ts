/**
 * Reads a Server-Sent Events body the way the WHATWG HTML specification tells `EventSource` to:
 * CR, LF and CRLF line ends, a leading BOM dropped, `data:` lines joined with LF, the optional
 * space after the colon, comments ignored, and an event dispatched only once its blank line has
 * arrived, so a stream cut mid-event never yields half of one.
 *
 * @module
 */

/** One dispatched event. */
export interface ServerSentEvent {
  /** The `event:` field; `message` when none was given. */
  event: string;
  /** The last `id:` seen on this stream, as `EventSource.lastEventId` would be. */
  id: string;
  /** The `data:` lines joined with LF. */
  data: string;
}

/**
 * Yields the events of `body` until it ends. Breaking out of the loop cancels the body.
 *
 * @example
 * ```ts
 * import { readServerSentEvents } from "./sse_reader.ts";
 * import assert from "node:assert/strict";
 *
 * const body = new Response("id: 1\r\nevent: delta\r\ndata: a\r\ndata: b\r\n\r\n: ping\n\ndata: cut").body!;
 * const events = await Array.fromAsync(readServerSentEvents(body));
 * // The last event never got its blank line: it is not dispatched.
 * assert.deepEqual(events, [{ event: "delta", id: "1", data: "a\nb" }]);
 * ```
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder(); // drops a leading BOM
  let buffer = "";
  let lastId = "";
  let event = "";
  let data: string[] = [];
  let hasData = false;
  // A CR ended the last line, so an LF at the start of the next chunk belongs to it.
  let afterCr = false;
  let ended = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      if (afterCr && buffer.startsWith("\n")) buffer = buffer.slice(1);
      afterCr = false;
      let start = 0;
      for (;;) {
        const lf = buffer.indexOf("\n", start);
        const cr = buffer.indexOf("\r", start);
        const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
        if (end === -1) break;
        const line = buffer.slice(start, end);
        if (buffer[end] === "\r") {
          if (end + 1 === buffer.length) afterCr = true;
          start = buffer[end + 1] === "\n" ? end + 2 : end + 1;
        } else {
          start = end + 1;
        }
        if (line === "") {
          if (hasData) yield { event: event || "message", id: lastId, data: data.join("\n") };
          event = "";
          data = [];
          hasData = false;
          continue;
        }
        const colon = line.indexOf(":");
        if (colon === 0) continue; // a comment, such as a heartbeat
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") {
          data.push(value);
          hasData = true;
        } else if (field === "event") {
          event = value;
        } else if (field === "id" && !value.includes("\0")) {
          lastId = value;
        }
      }
      buffer = buffer.slice(start);
    }
  } finally {
    if (!ended) await reader.cancel().catch(() => {});
  }
}
