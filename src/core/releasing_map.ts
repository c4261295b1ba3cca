/**
 * A `Map` whose entries let go of their values when they leave it, for the long-lived maps that
 * hold an entry per job or per stream.
 *
 * Why: V8 keeps a `Map`'s entries in a hash table, and when it rebuilds that table (it grew,
 * shrank, filled with deleted slots, or was cleared) it leaves the old table as garbage with its
 * references in place. A long-lived map's table is in the old generation, which only a full
 * collection clears; until then the young-generation collector takes every reference from it as
 * live. So each value that was in the map when its table was last rebuilt is copied, then
 * promoted, with everything it reaches: for a map with an entry per job, every job's whole state,
 * copied in each scavenge's pause and left for a full collection. Holding each value through a
 * cell that `delete` and `clear` empty leaves the old tables pointing at empty cells
 * (BENCHMARKS.md, "Issue 17, fifth step"). Keys stay referenced: use strings or numbers.
 *
 * @module
 */

/** The box a value is held through; emptied when its entry leaves the map. */
interface Cell<V> {
  value: V | undefined;
}

/**
 * A map of primitive keys to values, emptied of each value as its entry is deleted or cleared.
 *
 * @example
 * ```ts
 * import { ReleasingMap } from "./releasing_map.ts";
 * import assert from "node:assert/strict";
 *
 * const jobs = new ReleasingMap<string, { topic: string }>();
 * jobs.set("a", { topic: "tea" }).set("b", { topic: "bees" });
 * assert.equal(jobs.get("a")?.topic, "tea");
 * assert.equal(jobs.delete("a"), true);
 * assert.equal(jobs.has("a"), false);
 * assert.deepEqual([...jobs.keys()], ["b"]);
 * assert.deepEqual([...jobs.values()].map((j) => j.topic), ["bees"]);
 * ```
 */
export class ReleasingMap<K extends string | number, V> {
  readonly #cells = new Map<K, Cell<V>>();

  /** How many entries there are. */
  get size(): number {
    return this.#cells.size;
  }

  /** The value of `key`, if it has an entry. */
  get(key: K): V | undefined {
    return this.#cells.get(key)?.value;
  }

  /** Whether `key` has an entry. */
  has(key: K): boolean {
    return this.#cells.has(key);
  }

  /** Sets `key`'s value; an existing entry keeps its place in the order. */
  set(key: K, value: V): this {
    const cell = this.#cells.get(key);
    if (cell) cell.value = value;
    else this.#cells.set(key, { value });
    return this;
  }

  /** Removes `key`'s entry, emptying its cell first; returns whether there was one. */
  delete(key: K): boolean {
    const cell = this.#cells.get(key);
    if (!cell) return false;
    cell.value = undefined;
    return this.#cells.delete(key);
  }

  /** Removes every entry, emptying every cell first. */
  clear(): void {
    for (const cell of this.#cells.values()) cell.value = undefined;
    this.#cells.clear();
  }

  /** The keys, in insertion order. */
  keys(): IterableIterator<K> {
    return this.#cells.keys();
  }

  /** The values, in insertion order. */
  *values(): IterableIterator<V> {
    for (const cell of this.#cells.values()) yield cell.value as V;
  }

  /** The entries, in insertion order. */
  *entries(): IterableIterator<[K, V]> {
    for (const [key, cell] of this.#cells) yield [key, cell.value as V];
  }

  /** The entries, in insertion order. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
