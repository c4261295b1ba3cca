import assert from "node:assert/strict";
import { readChatStream } from "../src/llm/chat_completion_reader.ts";
import { OpenAiClient } from "../src/llm/openai_client.ts";
import { outlinePrompt } from "../src/workflow/prompts.ts";
import { startOpenAiServer } from "../testing/openai_server.ts";

/** A client of the loopback test server `server`, one attempt per call. */
function clientOf(server: Deno.HttpServer<Deno.NetAddr>, apiKey = "k"): OpenAiClient {
  return new OpenAiClient({
    apiKey,
    baseURL: `http://127.0.0.1:${server.addr.port}/v1`,
    model: "m",
    maxAttempts: 1,
  });
}

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

Deno.test("an aborted streamed call is torn down: the server never gets a request the caller did not count", async () => {
  // Deno's node:http sends a request again on a new socket when its reused keep-alive socket
  // closes before an answer, which is what destroying an aborted request does.
  const received: string[] = [];
  const hangUps: PromiseWithResolvers<void>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json() as { messages: { content: string }[] };
    const prompt = body.messages.at(-1)?.content ?? "";
    received.push(prompt);
    if (prompt === "warm") {
      // A whole answer, so its socket goes back to the pool and the next call reuses it.
      return new Response(
        'data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n',
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    // No headers until the client hangs up.
    const hungUp = Promise.withResolvers<void>();
    hangUps.push(hungUp);
    request.signal.addEventListener("abort", () => hungUp.resolve(), { once: true });
    await hungUp.promise;
    return new Response(null, { status: 499 });
  });
  const client = clientOf(server);
  let counted = 0;
  const call = (prompt: string, signal?: AbortSignal) =>
    client.complete({ purpose: "section", system: "s", prompt, input: {} }, {
      onDelta: () => {},
      onAttempt: () => counted++,
      ...(signal ? { signal } : {}),
    });
  try {
    for (let round = 1; round <= 3; round++) {
      assert.equal(await call("warm"), "ok");
      const controller = new AbortController();
      const aborted = call(`doomed ${round}`, controller.signal);
      while (hangUps.length < round) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort(new Error("job ended"));
      await assert.rejects(aborted, /job ended/);
      // The server saw the hang-up; a request sent again would already be on its way now.
      await hangUps[round - 1]!.promise;
      // A later call, made once the aborted one is gone, arrives after anything it left behind.
      assert.equal(await call("warm"), "ok");
      assert.deepEqual(
        received.filter((prompt) => prompt.startsWith("doomed")),
        Array.from({ length: round }, (_, i) => `doomed ${i + 1}`),
        "each aborted request reached the server once",
      );
      assert.equal(counted, received.length, "every request the server got was counted");
    }
  } finally {
    // Answers whatever is still held (a request sent again, before the fix) so shutdown ends.
    for (const hungUp of hangUps) hungUp.resolve();
    await server.shutdown();
  }
});

/** A loopback LLM server whose streamed answers go as `script` says, one write per piece. */
function streamingServer(
  script: (send: (text: string) => void) => Promise<"close" | "hold">,
  seen: { ports: number[]; closed: number; cancelled: number },
) {
  const encoder = new TextEncoder();
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request, info) => {
    await request.body?.cancel();
    seen.ports.push(info.remoteAddr.port);
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        // Once the client has hung up, the stream is cancelled and takes nothing more.
        const ending = await script((text) => {
          try {
            controller.enqueue(encoder.encode(text));
          } catch { /* cancelled */ }
        });
        if (ending === "hold") return;
        try {
          controller.close();
        } catch { /* cancelled */ }
        seen.closed++;
      },
      cancel() {
        seen.cancelled++;
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
const section = { purpose: "section" as const, system: "s", prompt: "p", input: {} };

Deno.test("streamed calls reuse one keep-alive connection: the body's end after [DONE] is read, not hung up on", async () => {
  const seen = { ports: [] as number[], closed: 0, cancelled: 0 };
  const server = streamingServer(async (send) => {
    for (const word of ["one ", "two"]) {
      send(`data: {"choices":[{"delta":{"content":"${word}"}}]}\n\n`);
      await tick();
    }
    send("data: [DONE]\n\n");
    // The body's end as a read of its own, as a model's server sends it.
    await tick();
    return "close";
  }, seen);
  const client = clientOf(server);
  try {
    // A call answered at `[DONE]` hands its socket on once the body's end is read; the next
    // call waits for the server to have ended the body, so it can find that socket free. One
    // reuse is the proof: hung up on at `[DONE]`, every call took a new connection.
    let reused = false;
    for (let calls = 1; calls <= 10 && !reused; calls++) {
      assert.equal(await client.complete(section, { onDelta: () => {} }), "one two");
      while (seen.closed < calls) await tick();
      await tick();
      reused = calls > 1 && seen.ports.at(-1) === seen.ports.at(-2);
    }
    assert.ok(reused, `every call took a new connection: ports ${seen.ports.join(", ")}`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a server that sends more after [DONE] is hung up on; the answer stands", async () => {
  const seen = { ports: [] as number[], closed: 0, cancelled: 0 };
  const server = streamingServer(async (send) => {
    send('data: {"choices":[{"delta":{"content":"ok"}}]}\n\n');
    await tick();
    send("data: [DONE]\n\n");
    await tick();
    send('data: {"choices":[{"delta":{"content":"late"}}]}\n\n');
    return "hold";
  }, seen);
  const client = clientOf(server);
  try {
    const deltas: string[] = [];
    const text = await client.complete(section, { onDelta: (delta) => deltas.push(delta) });
    assert.equal(text, "ok");
    // Hung up on: the held body is cancelled, which nothing else here would do.
    while (seen.cancelled === 0) await tick();
    assert.deepEqual(deltas, ["ok"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("every streamed request carries the SDK's headers and its own body, the headers built once", async () => {
  const seen: { headers: Headers; body: { stream?: boolean; messages?: { content: string }[] } }[] =
    [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    seen.push({ headers: request.headers, body: await request.json() });
    return new Response('data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: [DONE]\n\n', {
      headers: { "content-type": "text/event-stream" },
    });
  });
  const client = clientOf(server, "secret");
  try {
    for (const prompt of ["first", "second", "third"]) {
      assert.equal(
        await client.complete({ purpose: "section", system: "s", prompt, input: {} }, {
          onDelta: () => {},
        }),
        "ok",
      );
    }
    assert.deepEqual(seen.map((r) => r.body.messages?.at(-1)?.content), [
      "first",
      "second",
      "third",
    ]);
    for (const { headers, body } of seen) {
      assert.equal(body.stream, true);
      assert.equal(headers.get("authorization"), "Bearer secret");
      assert.equal(headers.get("content-type"), "application/json");
      assert.match(headers.get("user-agent") ?? "", /^OpenAI\/JS /);
      assert.equal(headers.get("x-stainless-retry-count"), "0");
    }
  } finally {
    await server.shutdown();
  }
});
