import assert from "node:assert/strict";
import { readServerSentEvents } from "../src/client/sse_reader.ts";

/** A body that delivers `chunks` one read at a time. */
function body(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
}

const read = (chunks: string[]) => Array.fromAsync(readServerSentEvents(body(chunks)));

Deno.test("readServerSentEvents follows the WHATWG parsing rules", async (t) => {
  await t.step("LF, CR and CRLF line ends, a CRLF split across reads", async () => {
    assert.deepEqual(await read(["data: a\n\n", "data: b\r\r", "data: c\r", "\n\r\n"]), [
      { event: "message", id: "", data: "a" },
      { event: "message", id: "", data: "b" },
      { event: "message", id: "", data: "c" },
    ]);
  });
  await t.step("a leading BOM, the optional space, several data lines, comments", async () => {
    assert.deepEqual(await read(["\uFEFFevent:delta\ndata:x\ndata:  y\n: ping\n\n"]), [
      { event: "delta", id: "", data: "x\n y" },
    ]);
  });
  await t.step("the id stays in force until another; one with NUL is ignored", async () => {
    assert.deepEqual(await read(["id: 7\ndata: a\n\ndata: b\n\nid: 8\0\ndata: c\n\n"]), [
      { event: "message", id: "7", data: "a" },
      { event: "message", id: "7", data: "b" },
      { event: "message", id: "7", data: "c" },
    ]);
  });
  await t.step("a block without data dispatches nothing (a retry preamble)", async () => {
    assert.deepEqual(await read(["retry: 1000\n\n", "event: x\n\n"]), []);
  });
  await t.step("an event cut before its blank line is never yielded", async () => {
    assert.deepEqual(await read(["id: 1\ndata: whole\n\nid: 2\ndata: ha", "lf\n"]), [
      { event: "message", id: "1", data: "whole" },
    ]);
  });
  await t.step("multi-byte characters split across reads", async () => {
    const bytes = new TextEncoder().encode("data: thé 🍵\n\n");
    const stream = ReadableStream.from([bytes.slice(0, 9), bytes.slice(9, 12), bytes.slice(12)]);
    assert.deepEqual(await Array.fromAsync(readServerSentEvents(stream)), [
      { event: "message", id: "", data: "thé 🍵" },
    ]);
  });
  await t.step("leaving early cancels the body", async () => {
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new TextEncoder().encode("data: x\n\n")),
      cancel: () => void (cancelled = true),
    });
    for await (const _ of readServerSentEvents(stream)) break;
    assert.ok(cancelled);
  });
});
