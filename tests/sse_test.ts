import assert from "node:assert/strict";
import { encodeSse, SseStream } from "../src/http/sse_encoder.ts";
import { readSse } from "../testing/sse_client.ts";

async function roundTrip(text: string) {
  return await Array.fromAsync(readSse(new Response(text).body!));
}

Deno.test("encodeSse() frames fields per the WHATWG spec", async (t) => {
  await t.step(
    "multi-line data becomes several data lines and reads back joined by LF",
    async () => {
      const frame = encodeSse({ id: 1, event: "delta", data: "one\ntwo\nthree" });
      assert.equal(frame, "id: 1\nevent: delta\ndata: one\ndata: two\ndata: three\n\n");
      assert.equal((await roundTrip(frame))[0]?.data, "one\ntwo\nthree");
    },
  );
  await t.step("CR and CRLF inside data are line breaks too, normalised to LF", async () => {
    const frame = encodeSse({ data: "a\rb\r\nc" });
    assert.equal(frame, "data: a\ndata: b\ndata: c\n\n");
    assert.equal((await roundTrip(frame))[0]?.data, "a\nb\nc");
  });
  await t.step("empty data still dispatches an event with empty data", async () => {
    const frame = encodeSse({ data: "" });
    assert.equal(frame, "data: \n\n");
    const events = await roundTrip(frame);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.data, "");
  });
  await t.step("unicode passes through unchanged, including astral characters", async () => {
    const text = "héllo — 世界 🚀 \u2028 end";
    assert.equal((await roundTrip(encodeSse({ data: text })))[0]?.data, text);
  });
  await t.step(
    "leading spaces in data survive (only one space after the colon is dropped)",
    async () => {
      assert.equal((await roundTrip(encodeSse({ data: "  indented" })))[0]?.data, "  indented");
    },
  );
  await t.step("every frame ends with a blank line", () => {
    for (
      const message of [{ data: "x" }, { comment: "ping" }, { retry: 10 }, { id: 3, data: "y" }]
    ) {
      assert.ok(encodeSse(message).endsWith("\n\n"));
    }
  });
  await t.step("comments are lines starting with a colon", () => {
    assert.equal(encodeSse({ comment: "ping" }), ": ping\n\n");
  });
  await t.step("CR or LF in event or id, NUL in id, and non-integer retry are refused", () => {
    assert.throws(() => encodeSse({ event: "a\nb" }), TypeError);
    assert.throws(() => encodeSse({ event: "a\rb" }), TypeError);
    assert.throws(() => encodeSse({ id: "1\n2" }), TypeError);
    assert.throws(() => encodeSse({ id: "1\u00002" }), TypeError);
    assert.throws(() => encodeSse({ retry: 1.5 }), RangeError);
    assert.throws(() => encodeSse({ retry: -1 }), RangeError);
  });
  await t.step("a message with no fields encodes to nothing", () => {
    assert.equal(encodeSse({}), "");
  });
});

Deno.test("SseStream applies back-pressure through the writer, and abort() ends a stuck stream", async () => {
  const encoder = new TextEncoder();
  const stream = new SseStream((n: number) => encoder.encode(encodeSse({ data: String(n) })), {
    highWaterMark: 2,
  });
  const writer = stream.writable.getWriter();
  const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(writer.desiredSize, 2);
  for (const n of [1, 2, 3]) writer.write(n).catch(() => {});
  // The first two are framed and sent as one chunk after this task; nobody reads it.
  await nextTask();
  for (const n of [4, 5, 6]) writer.write(n).catch(() => {});
  await nextTask();
  // With that chunk unread, items queue on the writer, and it reports it.
  assert.ok((writer.desiredSize ?? 0) <= 0, `desiredSize ${writer.desiredSize}`);
  writer.close().catch(() => {});
  const chunks: string[] = [];
  for await (const chunk of stream.readable) chunks.push(new TextDecoder().decode(chunk));
  assert.equal(chunks[0], "data: 1\n\ndata: 2\n\n");
  assert.equal(chunks.join(""), [1, 2, 3, 4, 5, 6].map((n) => `data: ${n}\n\n`).join(""));
});

Deno.test("SseStream.abort() releases a writer blocked on a reader that never reads", async () => {
  const stream = new SseStream((n: number) => new TextEncoder().encode(String(n)), {
    highWaterMark: 1,
  });
  const writer = stream.writable.getWriter();
  for (let i = 0; i < 5; i++) writer.write(i).catch(() => {});
  const closed = writer.closed.then(() => "closed", () => "errored");
  stream.abort(new Error("stuck"));
  assert.equal(await closed, "errored");
});
