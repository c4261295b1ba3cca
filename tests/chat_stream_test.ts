import assert from "node:assert/strict";
import { readChatStream, StreamCutError } from "../src/chat_stream.ts";

const encoder = new TextEncoder();
const chunk = (content: string) =>
  `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}\n\n`;
const options = (signal = new AbortController().signal) => ({
  signal,
  toError: (payload: unknown) => new Error(`stream error: ${JSON.stringify(payload)}`),
});

/** A body that hands over `bytes` in pieces of `size`, each in its own read. */
function bodyOf(text: string, size: number): ReadableStream<Uint8Array> {
  const bytes = encoder.encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at += size));
    },
  });
}

Deno.test("readChatStream reads deltas split anywhere, multi-byte characters included", async () => {
  const words = ["Thé ", "vert, ", "紅茶 ", "and ", "🍵 ", "more"];
  const text = words.map(chunk).join("") + "data: [DONE]\n\n";
  for (const size of [1, 2, 3, 7, 64, text.length]) {
    const deltas: string[] = [];
    const answer = await readChatStream(bodyOf(text, size), (d) => deltas.push(d), options());
    assert.deepEqual(deltas, words, `pieces of ${size} bytes`);
    assert.equal(answer, words.join(""));
  }
});

Deno.test("readChatStream ends at the end of the body without [DONE], last blank line missing", async () => {
  const answer = await readChatStream(
    bodyOf(chunk("a") + chunk("b").trimEnd(), 5),
    () => {},
    options(),
  );
  assert.equal(answer, "ab");
});

Deno.test("readChatStream throws the stream's errors instead of returning part of an answer", async (t) => {
  await t.step("an error chunk", async () => {
    const body = bodyOf(chunk("partial") + 'data: {"error":{"message":"overloaded"}}\n\n', 8);
    await assert.rejects(readChatStream(body, () => {}, options()), /stream error:.*overloaded/);
  });
  await t.step("an error event", async () => {
    const body = bodyOf('event: error\ndata: {"message":"bad"}\n\n', 8);
    await assert.rejects(readChatStream(body, () => {}, options()), /stream error:.*bad/);
  });
  await t.step("a body that breaks off: StreamCutError, with how much arrived", async () => {
    const lost = new TypeError("error reading a body from connection");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(encoder.encode(chunk("half an ")));
      },
      pull(c) {
        c.error(lost);
      },
    });
    await assert.rejects(readChatStream(body, () => {}, options()), (error: unknown) => {
      assert.ok(error instanceof StreamCutError);
      assert.equal(error.received, 8);
      assert.equal(error.cause, lost);
      assert.match(error.message, /broke off after 8 characters: error reading a body/);
      return true;
    });
  });
  await t.step("data that is not JSON", async () => {
    await assert.rejects(
      readChatStream(bodyOf("data: {oops\n\n", 4), () => {}, options()),
      SyntaxError,
    );
  });
  await t.step("a signal aborted before reading rejects at once and cancels the body", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      cancel() {
        cancelled = true;
      },
    });
    const reason = new DOMException("Cancelled by request", "AbortError");
    await assert.rejects(
      readChatStream(body, () => {}, options(AbortSignal.abort(reason))),
      (error: unknown) => error === reason,
    );
    assert.equal(cancelled, true);
  });
  await t.step(
    "an abort mid-stream rejects with the signal's reason and cancels the body",
    async () => {
      const controller = new AbortController();
      let cancelled = false;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(encoder.encode(chunk("first half")));
        },
        pull() {
          // Stalls: the rest never comes.
          return new Promise(() => {});
        },
        cancel() {
          cancelled = true;
        },
      });
      const deltas: string[] = [];
      const reading = readChatStream(body, (d) => {
        deltas.push(d);
        controller.abort(new DOMException("The LLM did not answer in time", "TimeoutError"));
      }, options(controller.signal));
      await assert.rejects(reading, (error: unknown) => {
        assert.ok(error instanceof DOMException && error.name === "TimeoutError");
        return true;
      });
      assert.deepEqual(deltas, ["first half"]);
      assert.equal(cancelled, true);
    },
  );
});
