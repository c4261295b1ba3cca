/**
 * A loopback OpenAI-compatible chat-completions server for the 50 ms scenario, in its own
 * process so its CPU is read apart from the service's and the load script's. It answers the
 * workflow's prompts with `testing/openai_server.ts`'s `defaultAnswer`, word by word when asked
 * to stream, and paces the words against the call's deadline (word i is due at
 * start + delay × (i + 1) / n), so every call takes the delay however long the answer is. The
 * test server instead sleeps between words, which on this machine's timers stretches a long
 * answer (the style step echoes the whole draft) to several times the delay.
 *
 * Run: `deno run --allow-net=127.0.0.1 bench/llm_server.ts --delay-ms 50`
 *
 * @module
 */

import { type ChatRequestBody, defaultAnswer } from "../testing/openai_server.ts";

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

/** Serves on a free loopback port, answering every call after `delayMs`. */
export function serveLlm(delayMs: number): Deno.HttpServer<Deno.NetAddr> {
  let counter = 0;
  return Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
    const body = await request.json() as ChatRequestBody;
    const prompt = body.messages?.findLast((m) => m.role === "user")?.content ?? "";
    const content = defaultAnswer(prompt);
    const id = `chatcmpl-${++counter}`;
    const started = performance.now();
    if (!body.stream) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return Response.json({
        id,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: "m",
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      });
    }
    const pieces = content.match(/\S+\s*|\s+/g) ?? [content];
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(chunk(id, { role: "assistant", content: "" }, null));
        for (const [i, piece] of pieces.entries()) {
          const wait = started + delayMs * (i + 1) / pieces.length - performance.now();
          if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
          if (request.signal.aborted) return;
          controller.enqueue(chunk(id, { content: piece }, null));
        }
        controller.enqueue(chunk(id, {}, "stop"));
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  });
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--delay-ms");
  const server = serveLlm(at === -1 ? 50 : Number(Deno.args[at + 1]));
  console.log(`LLM server is running at http://127.0.0.1:${server.addr.port}/v1`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
