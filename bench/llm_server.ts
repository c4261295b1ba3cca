/**
 * A loopback OpenAI-compatible chat-completions server for the benchmarks, in its own process so
 * its CPU is read apart from the service's and the load script's. Two ways to answer:
 *
 * - **Deadline** (`--delay-ms N`, the 50 ms scenario): `testing/openai_server.ts`'s
 *   `defaultAnswer`, word by word when asked to stream, each word paced against the call's
 *   deadline (word i is due at start + delay × (i + 1) / n), so every call takes the delay however
 *   long the answer is. The test server instead sleeps between words, which on this machine's
 *   timers stretches a long answer (the style step echoes the whole draft) to several times the
 *   delay.
 * - **Paced** (`--word-ms 20 --words 75`, realistic pacing): one word every `word-ms`, `words`
 *   words per call, like a model generating 50 tokens/s. Each word is the time it was sent, in ms
 *   since the epoch with one decimal (`w1761234567890.1 `), so a client that receives it later
 *   knows its age: `stampedAge`. An outline answer starts with the fenced outline (one piece,
 *   three quoted titles), then the stamped words.
 *
 * `GET /v1/stats` answers `{ calls, chunks }`: calls started and SSE events written so far, so a
 * benchmark can divide a process's CPU by the chunks it was sent.
 *
 * Run: `deno run --allow-net=127.0.0.1 bench/llm_server.ts --delay-ms 50`
 * or `deno run --allow-net=127.0.0.1 bench/llm_server.ts --word-ms 20 --words 75`
 *
 * @module
 */

import { type ChatRequestBody, defaultAnswer, promptData } from "../testing/openai_server.ts";

const encoder = new TextEncoder();

function chunk(id: string, delta: Record<string, string>, finish: string | null): Uint8Array {
  return encoder.encode(`data: ${
    JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created: Math.floor(Date.now() / 1000),
      model: "m",
      choices: [{ index: 0, delta, finish_reason: finish }],
    })
  }\n\n`);
}

/** How the server answers. */
export type LlmServerOptions =
  | { delayMs: number }
  | { wordMs: number; words: number };

/** The stamp of a word sent now: ms since the epoch, one decimal. */
function stamp(): string {
  return `w${(performance.timeOrigin + performance.now()).toFixed(1)} `;
}

const STAMP = /w(\d{13}\.\d)/g;

/**
 * The age in ms, at `nowMs` (ms since the epoch), of the newest stamped word in `text`; NaN when
 * it holds none.
 *
 * @example
 * ```ts
 * import { stampedAge } from "./llm_server.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(stampedAge("w1761234567890.0 w1761234567910.5 ", 1761234567920.5), 10);
 * assert.ok(Number.isNaN(stampedAge("no stamps", 1761234567920)));
 * ```
 */
export function stampedAge(text: string, nowMs: number): number {
  let newest = NaN;
  for (const match of text.matchAll(STAMP)) {
    const at = Number(match[1]);
    if (!(at <= newest)) newest = at;
  }
  return nowMs - newest;
}

function pacedOutline(prompt: string): string {
  const [topic = ""] = promptData(prompt);
  const titles = ["Introduction to", "Key ideas of", "The future of"].map((t) => `${t} ${topic}`);
  return "```yaml\nsections:\n" + titles.map((t) => `  - ${JSON.stringify(t)}\n`).join("") +
    "```\n";
}

/** Serves on a free loopback port, answering as `options` say. */
export function serveLlm(options: LlmServerOptions): Deno.HttpServer<Deno.NetAddr> {
  let calls = 0;
  let chunks = 0;
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    if (request.method === "GET" && new URL(request.url).pathname === "/v1/stats") {
      return Response.json({ calls, chunks });
    }
    const body = await request.json() as ChatRequestBody;
    const prompt = body.messages?.findLast((m) => m.role === "user")?.content ?? "";
    const id = `chatcmpl-${++calls}`;
    const started = performance.now();
    const paced = "wordMs" in options;
    if (!body.stream) {
      const delayMs = paced ? options.wordMs * options.words : options.delayMs;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return Response.json({
        id,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: "m",
        choices: [{
          index: 0,
          message: { role: "assistant", content: defaultAnswer(prompt) },
          finish_reason: "stop",
        }],
      });
    }
    // Deadline: the answer's pieces, each due at its share of the delay. Paced: a stamp made when
    // it is sent, one every `wordMs`.
    const pieces = paced ? [] : defaultAnswer(prompt).match(/\S+\s*|\s+/g) ?? [];
    const count = paced ? options.words : pieces.length;
    const gapMs = paced ? options.wordMs : options.delayMs / Math.max(1, count);
    const send = (controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array) => {
      chunks++;
      controller.enqueue(bytes);
    };
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        send(controller, chunk(id, { role: "assistant", content: "" }, null));
        if (paced && prompt.includes("Create a simple outline")) {
          send(controller, chunk(id, { content: pacedOutline(prompt) }, null));
        }
        for (let i = 0; i < count; i++) {
          const wait = started + gapMs * (i + 1) - performance.now();
          if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
          if (request.signal.aborted) return;
          send(controller, chunk(id, { content: paced ? stamp() : pieces[i] as string }, null));
        }
        send(controller, chunk(id, {}, "stop"));
        send(controller, encoder.encode("data: [DONE]\n\n"));
        controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  });
}

function flag(name: string): number | undefined {
  const at = Deno.args.indexOf(name);
  return at === -1 ? undefined : Number(Deno.args[at + 1]);
}

if (import.meta.main) {
  const wordMs = flag("--word-ms");
  const server = serveLlm(
    wordMs === undefined
      ? { delayMs: flag("--delay-ms") ?? 50 }
      : { wordMs, words: flag("--words") ?? 75 },
  );
  console.log(`LLM server is running at http://127.0.0.1:${server.addr.port}/v1`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
