/**
 * The least parse of a streamed chat completion a reader can do: split the body's text on blank
 * lines, `JSON.parse` each `data:` event, keep `choices[0].delta.content`. No `event:` or
 * multi-line `data:` support (the loopback LLM server sends neither): it is the benchmarks'
 * reference cost for turning chunks into text, shared by every transport in `chat_transports.ts`.
 *
 * @module
 */

interface ChatChunk {
  choices?: { delta?: { content?: string } }[];
}

/**
 * Collects the text deltas of one streamed answer fed to it as text in any split.
 *
 * @example
 * ```ts
 * import { ChatChunkParser } from "./chat_chunk_parser.ts";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const parser = new ChatChunkParser((delta) => seen.push(delta));
 * parser.push('data: {"choices":[{"delta":{"content":"Hel');
 * parser.push('lo"}}]}\n\ndata: {"choices":[{"delta":{"content":"!"}}]}\n\ndata: [DONE]\n\n');
 * assert.deepEqual(seen, ["Hello", "!"]);
 * assert.equal(parser.text, "Hello!");
 * assert.equal(parser.done, true);
 * ```
 */
export class ChatChunkParser {
  /** Every delta so far, joined. */
  text = "";
  /** Set once `data: [DONE]` arrived. */
  done = false;
  #pending = "";
  readonly #onDelta: ((delta: string) => void) | undefined;

  /** Creates a parser calling `onDelta` with each non-empty text delta. */
  constructor(onDelta?: (delta: string) => void) {
    this.#onDelta = onDelta;
  }

  /** Feeds the next piece of the body's text. */
  push(text: string): void {
    const pending = this.#pending === "" ? text : this.#pending + text;
    let start = 0;
    let end: number;
    while ((end = pending.indexOf("\n\n", start)) !== -1) {
      const block = pending.slice(start, end);
      start = end + 2;
      if (!block.startsWith("data: ")) continue;
      if (block === "data: [DONE]") {
        this.done = true;
        continue;
      }
      const delta = (JSON.parse(block.slice(6)) as ChatChunk).choices?.[0]?.delta?.content;
      if (delta) {
        this.text += delta;
        this.#onDelta?.(delta);
      }
    }
    this.#pending = start === 0 ? pending : pending.slice(start);
  }
}
