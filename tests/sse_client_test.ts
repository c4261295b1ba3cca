/**
 * The tests' SSE reader fails, with a message saying what it waited for, when a stream that
 * should end stays open: a hang in the service must fail the suite, not stall it.
 */

import assert from "node:assert/strict";
import { collectEvents, readSse } from "../testing/sse_client.ts";

/**
 * A server whose event stream sends one event and then stays open until the client leaves;
 * `cancelled` resolves once `clients` streams were cancelled by their client.
 */
function startOpenStreamServer(clients: number) {
  const { promise: cancelled, resolve } = Promise.withResolvers<void>();
  let left = clients;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      if (new URL(request.url).pathname === "/silent") {
        // Answers nothing at all until the client gives up.
        return new Promise<Response>((settle) => {
          request.signal.addEventListener("abort", () => settle(new Response(null)), {
            once: true,
          });
        });
      }
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("id: 1\nevent: status\ndata: {}\n\n"));
        },
        cancel: () => void (--left === 0 && resolve()),
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, server, cancelled };
}

Deno.test("a stream that never ends fails the read after the bound, and is closed", async (t) => {
  const { url, server, cancelled } = startOpenStreamServer(2);
  try {
    await t.step("collectEvents", async () => {
      await assert.rejects(
        collectEvents(`${url}/events`, {}, { timeoutMs: 300 }),
        /GET http:\/\/127\.0\.0\.1:\d+\/events: the event stream did not end within 300 ms \(1 events read, last id "1"\)/,
      );
    });
    await t.step("collectEvents, when the server never answers", async () => {
      await assert.rejects(
        collectEvents(`${url}/silent`, {}, { timeoutMs: 300 }),
        /did not end within 300 ms \(0 events read/,
      );
    });
    await t.step("readSse", async () => {
      const response = await fetch(`${url}/events`);
      const seen: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const event of readSse(response.body!, { timeoutMs: 300, what: "job 7" })) {
            seen.push(event.id);
          }
        })(),
        /^Error: job 7 did not end within 300 ms \(1 events read, last id "1"\)$/,
      );
      assert.deepEqual(seen, ["1"]);
    });
    // The server saw both stream clients leave: nothing is left open.
    await cancelled;
  } finally {
    await server.shutdown();
  }
});
