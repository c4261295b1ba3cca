import assert from "node:assert/strict";
import { isoTime } from "../src/core/iso_time.ts";
import { propertySeed, Random } from "./_arbitrary_text.ts";

Deno.test("isoTime writes what toISOString writes, for any time", () => {
  const seed = propertySeed();
  const random = new Random(seed);
  const edges = [
    0,
    0.5,
    999,
    1000,
    59_999,
    86_399_999,
    86_400_000,
    951_782_400_000, // 2000-02-29
    1_764_547_199_999.7,
    253_402_300_799_999, // 9999-12-31T23:59:59.999Z
    253_402_300_800_000, // +010000-01-01: past the cached path
    -1, // before the epoch
    -62_198_755_200_001, // before year 0
  ];
  const times = [
    ...edges,
    // Times in random order, so the cached day changes back and forth.
    ...Array.from({ length: 20_000 }, () => random.next() * 253_402_300_800_000),
    ...Array.from({ length: 2_000 }, () => 1_764_547_200_000 + random.int(-DAY, DAY)),
  ];
  for (const ms of times) {
    assert.equal(isoTime(ms), new Date(ms).toISOString(), `${ms} (seed ${seed})`);
  }
});

Deno.test("isoTime throws for an invalid time, as toISOString does", () => {
  for (const ms of [NaN, Infinity, -Infinity, 8.64e15 + 1]) {
    assert.throws(() => isoTime(ms), RangeError);
  }
});

const DAY = 86_400_000;
