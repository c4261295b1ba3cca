/**
 * The streamed-body reader of the `openai` provider against `npm:eventsource-parser` doing the
 * same job: CPU time per chunk over an OpenAI-shaped stream of N chunks (one `data:` event
 * each, as a model streams a token or a word), read from a `ReadableStream` in reads of one
 * chunk. Also two floors: the same reads and UTF-8 decoding with no parsing at all, and with
 * each event's JSON cut out by its known place and parsed (what no SSE parser can go under). Rounds
 * alternate the readers; the figure is the median round's.
 *
 *     deno run --allow-read bench/chat_stream_readers.ts [--chunks 200000] [--rounds 5] \
 *       [--shapes 1,16,1/3]
 *
 * A shape is how the events fall into reads: `1` one per read (what the figure above means),
 * `16` sixteen per read (a fast server behind a buffering proxy), `1/3` each cut into three.
 *
 * @module
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { createParser } from "npm:eventsource-parser@4.1.3";
import { MAX_SSE_LINE, readChatStream } from "../src/llm/chat_completion_reader.ts";

type Reader = (body: ReadableStream<Uint8Array>, onDelta: (text: string) => void) => Promise<
  string
>;

const encoder = new TextEncoder();

/** N chunks as OpenAI sends them, then `[DONE]`, each encoded on its own. */
function openAiChunks(n: number): Uint8Array[] {
  const words = ["Tea ", "is ", "a ", "drink ", "made ", "by ", "steeping ", "leaves. "];
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const chunk = {
      id: "chatcmpl-AbCdEf0123456789",
      object: "chat.completion.chunk",
      created: 1_760_000_000,
      model: "gpt-4o-mini-2024-07-18",
      system_fingerprint: "fp_0123456789",
      choices: [{
        index: 0,
        delta: { content: words[i % words.length] },
        logprobs: null,
        finish_reason: null,
      }],
    };
    chunks.push(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
  }
  chunks.push(encoder.encode("data: [DONE]\n\n"));
  return chunks;
}

/**
 * The reads a body hands over: `perRead` chunks joined in each, or with `perRead` below 1, each
 * chunk cut into `1 / perRead` reads (as a network splits them).
 */
function reads(chunks: Uint8Array[], perRead: number): Uint8Array[] {
  if (perRead === 1) return chunks;
  if (perRead > 1) {
    const out: Uint8Array[] = [];
    for (let i = 0; i < chunks.length; i += perRead) {
      const group = chunks.slice(i, i + perRead);
      const joined = new Uint8Array(group.reduce((n, c) => n + c.byteLength, 0));
      let at = 0;
      for (const c of group) joined.set(c, at), at += c.byteLength;
      out.push(joined);
    }
    return out;
  }
  const parts = Math.round(1 / perRead);
  return chunks.flatMap((c) => {
    const size = Math.ceil(c.byteLength / parts);
    return Array.from({ length: parts }, (_, i) => c.subarray(i * size, (i + 1) * size));
  });
}

/** A body handing over `reads` one per read. */
function bodyOf(reads: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === reads.length) controller.close();
      else controller.enqueue(reads[i++] as Uint8Array);
    },
  });
}

const handWritten: Reader = (body, onDelta) =>
  readChatStream(body, onDelta, {
    signal: new AbortController().signal,
    toError: (error) => new Error(JSON.stringify(error)),
  });

/** The same contract as `readChatStream` (bound, errors, `[DONE]`), on `eventsource-parser`. */
const withLibrary: Reader = async (body, onDelta) => {
  let answer = "";
  let done = false;
  let failure: Error | undefined;
  const parser = createParser({
    maxBufferSize: MAX_SSE_LINE,
    onError: (error) => {
      if (error.type === "max-buffer-size-exceeded") failure ??= new RangeError(error.message);
    },
    onEvent: ({ event, data }) => {
      if (done || failure) return;
      if (data === "[DONE]") {
        done = true;
        return;
      }
      let chunk: { error?: unknown; choices?: { delta?: { content?: unknown } }[] };
      try {
        chunk = JSON.parse(data);
      } catch {
        failure = event === "error"
          ? new Error(data)
          : new SyntaxError(`not JSON: ${data.slice(0, 80)}`);
        return;
      }
      if (event === "error" || chunk.error) {
        failure = new Error(JSON.stringify(chunk.error ?? chunk));
        return;
      }
      const delta = chunk.choices?.[0]?.delta?.content;
      if (typeof delta === "string" && delta !== "") {
        answer += delta;
        onDelta(delta);
      }
    },
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    while (!done) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      parser.feed(decoder.decode(value, { stream: true }));
      if (failure) throw failure;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return answer;
};

/** Reads and decodes, parses nothing: what any reader costs before its own work. */
const floor: Reader = async (body) => {
  const decoder = new TextDecoder();
  let length = 0;
  for await (const chunk of body) length += decoder.decode(chunk, { stream: true }).length;
  return String(length);
};

/** Reads, decodes and `JSON.parse`s each event's JSON, cut out by its known place: no SSE parser. */
const floorWithJson: Reader = async (body, onDelta) => {
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    const text = decoder.decode(chunk, { stream: true });
    if (text.startsWith("data: [DONE]")) break;
    const parsed = JSON.parse(text.slice(6, -2));
    onDelta(parsed.choices[0].delta.content);
  }
  return "";
};

async function cpuMicros(reader: Reader, body: Uint8Array[], events: number): Promise<number> {
  let deltas = 0;
  const before = process.cpuUsage();
  await reader(bodyOf(body), () => deltas++);
  const used = process.cpuUsage(before);
  if (reader !== floor && deltas !== events) {
    throw new Error(`a reader saw ${deltas} deltas of ${events}`);
  }
  return used.user + used.system;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** `"4"` is 4 events per read, `"1/3"` each event in 3 reads. */
function perRead(shape: string): number {
  const [top = "", bottom] = shape.split("/");
  return bottom === undefined ? Number(top) : Number(top) / Number(bottom);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      chunks: { type: "string", default: "200000" },
      rounds: { type: "string", default: "5" },
      shapes: { type: "string", default: "1,16,1/3" },
    },
  });
  const n = Number(values.chunks);
  const rounds = Number(values.rounds);
  const chunks = openAiChunks(n);
  const all: [string, Reader][] = [
    ["hand-written readChatStream", handWritten],
    ["npm:eventsource-parser@4.1.3", withLibrary],
    ["floor: reads + decode only", floor],
    ["floor + JSON.parse, no SSE", floorWithJson],
  ];
  console.log(`${n} chunks, ${rounds} rounds alternating, median round, CPU µs per chunk:`);
  for (const shape of values.shapes.split(",")) {
    const body = reads(chunks, perRead(shape));
    // The JSON floor cuts each event out by its place: one event per read only.
    const readers = all.filter(([, r]) => r !== floorWithJson || body === chunks);
    // A warm-up run each, so every reader is compiled before it is timed.
    for (const [, reader] of readers) await cpuMicros(reader, body, n);
    const figures = new Map<string, number[]>(readers.map(([name]) => [name, []]));
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? readers : [...readers].reverse();
      for (const [name, reader] of order) {
        figures.get(name)?.push(await cpuMicros(reader, body, n));
      }
    }
    console.log(`  events per read: ${shape} (${body.length} reads)`);
    for (const [name, micros] of figures) {
      console.log(`    ${name.padEnd(30)} ${(median(micros) / n).toFixed(2)}`);
    }
  }
}
