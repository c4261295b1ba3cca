import assert from "node:assert/strict";
import { MAX_SSE_LINE, readChatStream, StreamCutError } from "../src/llm/chat_completion_reader.ts";

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

Deno.test("readChatStream ends at the end of the body without [DONE]; an unfinished last event is dropped", async () => {
  for (const size of [1, 5, 64]) {
    assert.equal(
      await readChatStream(bodyOf(chunk("a") + chunk("b"), size), () => {}, options()),
      "ab",
    );
    // WHATWG: an event without its blank line when the body ends is not dispatched.
    for (const tail of [chunk("b").trimEnd(), chunk("b").slice(0, -1)]) {
      const answer = await readChatStream(bodyOf(chunk("a") + tail, size), () => {}, options());
      assert.equal(answer, "a", `pieces of ${size} bytes, tail ${JSON.stringify(tail.slice(-3))}`);
    }
  }
});

/** The chunk's JSON split over two `data:` lines, which the reader must join with LF. */
const twoLineChunk = (content: string, eol: string) => {
  const json = JSON.stringify({ choices: [{ delta: { content } }] });
  const cut = json.indexOf('"delta"');
  return `data: ${json.slice(0, cut)}${eol}data:${json.slice(cut)}${eol}${eol}`;
};

Deno.test("readChatStream ends lines at CR, LF and CRLF, split anywhere, as WHATWG says", async (t) => {
  const words = ["one ", "two ", "three"];
  for (const eol of ["\r", "\n", "\r\n"]) {
    await t.step(`lines ending in ${JSON.stringify(eol)}`, async () => {
      const text = `: comment${eol}${eol}` + words.map((w) => twoLineChunk(w, eol)).join("") +
        `event: ignored${eol}${eol}data: [DONE]${eol}${eol}`;
      for (let size = 1; size <= 40; size++) {
        const deltas: string[] = [];
        const answer = await readChatStream(bodyOf(text, size), (d) => deltas.push(d), options());
        assert.deepEqual(deltas, words, `pieces of ${size} bytes`);
        assert.equal(answer, words.join(""));
      }
    });
  }
  await t.step("a CRLF split between two reads is one line end, not a blank line", async () => {
    // Were the LF read as a second line end, the event would end after its first data line.
    const text = twoLineChunk("whole", "\r\n") + "data: [DONE]\r\n\r\n";
    const parts = text.split(/(?<=\r)(?=\n)/);
    assert.ok(parts.length > 2);
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i === parts.length) return controller.close();
        controller.enqueue(encoder.encode(parts[i++]));
      },
    });
    assert.equal(await readChatStream(body, () => {}, options()), "whole");
  });
});

Deno.test("readChatStream ignores one leading byte order mark, even split across reads", async () => {
  const text = "\uFEFF" + chunk("first") + chunk("second") + "data: [DONE]\n\n";
  for (const size of [1, 2, 3, 64]) {
    const answer = await readChatStream(bodyOf(text, size), () => {}, options());
    assert.equal(answer, "firstsecond", `pieces of ${size} bytes`);
  }
});

Deno.test("readChatStream bounds a line or an event that never ends, and cancels the body", async (t) => {
  /** An endless body of `piece`, counting what was pulled and whether it was cancelled. */
  const endless = (piece: string) => {
    const bytes = encoder.encode(piece.repeat(Math.ceil(65_536 / piece.length)));
    const seen = { pulled: 0, cancelled: false };
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        // A reader with no bound would read forever: end it, so the test fails instead of hangs.
        if (seen.pulled > 8 * MAX_SSE_LINE) return controller.error(new Error("never stopped"));
        seen.pulled += bytes.byteLength;
        controller.enqueue(bytes.slice());
      },
      cancel() {
        seen.cancelled = true;
      },
    });
    return { body, seen };
  };
  for (
    const [name, piece] of [
      ["a line without a line break", "a"],
      ["a data line never followed by a blank line", 'data: {"x":1}\n'],
      ["a comment without a line break", ": " + "z".repeat(99)],
    ] as const
  ) {
    await t.step(name, async () => {
      const { body, seen } = endless(piece);
      await assert.rejects(
        readChatStream(body, () => {}, options()),
        (error: unknown) => {
          assert.ok(error instanceof RangeError, String(error));
          assert.match(error.message, new RegExp(`longer than ${MAX_SSE_LINE} characters`));
          return true;
        },
      );
      // Data lines count their values only, about half of what was read; no more is pulled.
      assert.ok(seen.pulled <= 3 * MAX_SSE_LINE, `pulled ${seen.pulled} bytes`);
      assert.equal(seen.cancelled, true);
    });
  }
  await t.step("a long line under the bound is read", async () => {
    const content = "x".repeat(MAX_SSE_LINE - 100);
    assert.equal(
      (await readChatStream(bodyOf(chunk(content), 65_536), () => {}, options())).length,
      content.length,
    );
  });
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
  await t.step("an error event whose data is plain text, not JSON", async () => {
    const body = bodyOf(chunk("partial") + "event: error\r\ndata: upstream overloaded\r\n\r\n", 8);
    await assert.rejects(
      readChatStream(body, () => {}, options()),
      (error: unknown) => {
        assert.equal(
          (error as Error).message,
          'stream error: {"message":"upstream overloaded"}',
        );
        return true;
      },
    );
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
