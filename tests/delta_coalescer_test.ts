import assert from "node:assert/strict";
import { type Delta, DeltaCoalescer } from "../src/jobs/delta_coalescer.ts";

function collect(flushMs: number, maxChars?: number) {
  const written: [string, Delta][] = [];
  const deltas = new DeltaCoalescer<string>({
    flushMs,
    ...(maxChars ? { maxChars } : {}),
    write: (job, delta) => written.push([job, { ...delta }]),
  });
  return { written, deltas };
}

Deno.test("DeltaCoalescer gathers a stream's text into one delta per flush", async (t) => {
  await t.step("chunks within the interval become one delta, after the interval", async () => {
    const { written, deltas } = collect(20);
    deltas.add("a", "outline", undefined, "Hel");
    deltas.add("a", "outline", undefined, "lo");
    assert.deepEqual(written, []);
    while (written.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(written, [["a", { step: "outline", index: undefined, text: "Hello" }]]);
    deltas.close();
  });

  await t.step("each job and each section is its own stream", () => {
    const { written, deltas } = collect(1_000);
    deltas.add("a", "content", 0, "x");
    deltas.add("a", "content", 1, "y");
    deltas.add("b", "content", 0, "z");
    deltas.flushAll();
    assert.deepEqual(written.map(([job, d]) => `${job}${d.index}${d.text}`), [
      "a0x",
      "a1y",
      "b0z",
    ]);
    deltas.close();
  });

  await t.step("a stream reaching maxChars is written at once", () => {
    const { written, deltas } = collect(1_000, 4);
    deltas.add("a", "style", undefined, "ab");
    assert.equal(written.length, 0);
    deltas.add("a", "style", undefined, "cd");
    assert.deepEqual(written.map(([, d]) => d.text), ["abcd"]);
    deltas.add("a", "style", undefined, "a single large chunk");
    assert.equal(written.length, 2);
    deltas.close();
  });

  await t.step("flushMs 0 writes each chunk as it comes", () => {
    const { written, deltas } = collect(0);
    deltas.add("a", "outline", undefined, "1");
    deltas.add("a", "outline", undefined, "2");
    assert.deepEqual(written.map(([, d]) => d.text), ["1", "2"]);
    deltas.close();
  });

  await t.step("restart drops buffered text and says whether any was sent", () => {
    const { written, deltas } = collect(1_000);
    assert.equal(deltas.restart("a", "outline", undefined), false);
    deltas.add("a", "outline", undefined, "lost");
    assert.equal(deltas.restart("a", "outline", undefined), true);
    deltas.flushAll();
    assert.deepEqual(written, []);
    assert.equal(deltas.restart("a", "outline", undefined), false);
    deltas.close();
  });
});
