/**
 * Prints how many values that left a long-lived map the young-generation collector still keeps,
 * for a `Map` and for a {@linkcode ReleasingMap}: `{"map": n, "releasing": n}` of `ENTRIES` each.
 * Needs `--v8-flags=--expose-gc` (`tests/releasing_map_test.ts` runs it).
 *
 * @module
 */

import { ReleasingMap } from "../src/core/releasing_map.ts";

const ENTRIES = 2_000;
/** Entries in the map at once, as with jobs in flight. */
const LIVE = 20;

const gc = (globalThis as { gc?: (options?: { type: "minor" | "major" }) => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");

interface Churned {
  set(key: number, value: object): unknown;
  delete(key: number): boolean;
}

/** How many of the values that went through `map` are still alive after two scavenges. */
async function kept(map: Churned): Promise<number> {
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < ENTRIES; i++) {
    const value = { payload: new Array(8).fill(i) };
    refs.push(new WeakRef(value));
    map.set(i, value);
    if (i >= LIVE) map.delete(i - LIVE);
  }
  for (let i = ENTRIES - LIVE; i < ENTRIES; i++) map.delete(i);
  // A WeakRef holds its target until the current task ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  gc!({ type: "minor" });
  gc!({ type: "minor" });
  return refs.filter((ref) => ref.deref() !== undefined).length;
}

// Both maps are old, as a service's maps are: a full collection moves them there.
const map = new Map<number, object>();
const releasing = new ReleasingMap<number, object>();
gc({ type: "major" });
gc({ type: "major" });
console.log(
  JSON.stringify({ map: await kept(map), releasing: await kept(releasing), of: ENTRIES }),
);
