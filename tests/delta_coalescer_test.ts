import assert from "node:assert/strict";
import { type Delta, DeltaCoalescer } from "../src/jobs/delta_coalescer.ts";

function collect(flushMs: number, maxChars?: number) {
  const written: [string, Delta][] = [];
  const deltas = new DeltaCoalescer<string>({
    flushMs,
    keyOf: (job) => job,
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

Deno.test("DeltaCoalescer writes each job flushMs after its first text, not every job at once, in each job's order", async () => {
  const flushMs = 150;
  const firstAt = new Map<string, number>();
  /** Per job: its texts in the order written, and how long each batch waited. */
  const texts = new Map<string, string[]>();
  const waits: number[] = [];
  const deltas = new DeltaCoalescer<string>({
    flushMs,
    keyOf: (job) => job,
    write: (job, delta) => {
      const at = firstAt.get(job);
      if (at !== undefined) {
        waits.push(performance.now() - at);
        firstAt.delete(job);
      }
      texts.set(job, [...texts.get(job) ?? [], `${delta.index}${delta.text}`]);
    },
  });
  const add = (job: string, index: number, text: string) => {
    if (!firstAt.has(job)) firstAt.set(job, performance.now());
    deltas.add(job, "content", index, text);
  };
  add("a", 0, "1");
  add("a", 1, "x");
  add("a", 0, "2");
  // "b" starts half a window later: due in a later slot than "a".
  const started = performance.now();
  while (performance.now() - started < flushMs / 2) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  add("b", 0, "y");
  while (texts.get("b") === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  // Each stream's text in one delta, streams in the order they began.
  assert.deepEqual(texts.get("a"), ["012", "1x"]);
  assert.deepEqual(texts.get("b"), ["0y"]);
  // Each job waited its own window (rounded down to a fifth of it; timers are never early), so
  // "b" was not written with "a", half a window early.
  for (const wait of waits) assert.ok(wait >= flushMs - flushMs / 5 - 1, `waited ${wait} ms`);
  // A flush in between (an event of the job) takes the job out of its slot: nothing is left.
  add("c", 0, "z");
  deltas.flush("c");
  assert.deepEqual(texts.get("c"), ["0z"]);
  deltas.close();
});
