import assert from "node:assert/strict";
import { readChatStream } from "../src/llm/chat_completion_reader.ts";
import { OpenAiClient } from "../src/llm/openai_client.ts";
import { outlinePrompt } from "../src/workflow/prompts.ts";
import { startOpenAiServer } from "../testing/openai_server.ts";

Deno.test("the openai client's transport and body reader can be swapped, the workflow untouched", async () => {
  const server = await startOpenAiServer();
  try {
    const requested: string[] = [];
    let bodiesRead = 0;
    const client = new OpenAiClient({
      apiKey: "k",
      baseURL: server.baseUrl,
      model: "m",
      // A transport of our own, which still makes real requests over loopback.
      fetch: (url, init) => {
        requested.push(String(url instanceof Request ? url.url : url));
        return fetch(url, init);
      },
      readStream: (body, onDelta, options) => {
        bodiesRead++;
        return readChatStream(body, onDelta, options);
      },
    });
    const deltas: string[] = [];
    const text = await client.complete(outlinePrompt("Bees", 3), {
      onDelta: (delta) => deltas.push(delta),
    });
    assert.match(text, /Bees/);
    assert.equal(deltas.join(""), text);
    assert.equal(requested.length, 1);
    assert.match(requested[0] as string, /\/chat\/completions$/);
    assert.equal(bodiesRead, 1);
  } finally {
    await server.close();
  }
});
