/**
 * Where `Idempotency-Key`s are remembered: the interface, what a key holds, and the in-memory
 * store (one process, and the tests' double).
 *
 * @module
 */

import type { JobSnapshot } from "../core/job.ts";
import { ReleasingMap } from "../core/releasing_map.ts";

/** What a key holds. */
export interface KeyRecord {
  /** The SHA-256 of the first request's topic and webhook: another request must match it. */
  fingerprint: string;
  /** The job the first request creates (or created). */
  jobId: string;
  /** The first answer's job snapshot, once the job is accepted: replayed to later requests. */
  response?: JobSnapshot;
  /**
   * While the first request is being handled (no `response` yet): until when, in epoch ms, its
   * handler is taken to be alive. A key held past this is checked against the job store.
   */
  leaseUntil?: number;
  /** When the key is forgotten, in epoch ms. */
  expiresAt: number;
}

/**
 * Keys and their records, each one atomic: across instances for a shared store. A key is
 * forgotten at its record's `expiresAt`.
 */
export interface IdempotencyStore {
  /**
   * Stores `record` for `key` if no live record is there and resolves with `undefined`, or
   * resolves with the record that is there.
   */
  claim(key: string, record: KeyRecord): Promise<KeyRecord | undefined>;
  /** Replaces `key`'s record with `record` if it still names job `jobId`; whether it did. */
  replace(key: string, jobId: string, record: KeyRecord): Promise<boolean>;
  /** Forgets `key` if its record still names job `jobId`. */
  release(key: string, jobId: string): Promise<void>;
  /** Releases what the store holds open. */
  close(): Promise<void>;
}

/**
 * Keys in process memory, swept as they expire.
 *
 * @example
 * ```ts
 * import { MemoryIdempotencyStore } from "./idempotency_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryIdempotencyStore();
 * const record = { fingerprint: "f", jobId: "j1", expiresAt: Date.now() + 60_000 };
 * assert.equal(await store.claim("k", record), undefined);
 * assert.equal((await store.claim("k", { ...record, jobId: "j2" }))?.jobId, "j1");
 * await store.release("k", "j2"); // not its job: kept
 * await store.release("k", "j1");
 * assert.equal(await store.claim("k", record), undefined);
 * ```
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #keys = new ReleasingMap<string, KeyRecord>();
  #sweptAt = 0;

  claim(key: string, record: KeyRecord): Promise<KeyRecord | undefined> {
    this.#sweep();
    const found = this.#live(key);
    if (found) return Promise.resolve(found);
    this.#keys.set(key, record);
    return Promise.resolve(undefined);
  }

  replace(key: string, jobId: string, record: KeyRecord): Promise<boolean> {
    if (this.#live(key)?.jobId !== jobId) return Promise.resolve(false);
    this.#keys.set(key, record);
    return Promise.resolve(true);
  }

  release(key: string, jobId: string): Promise<void> {
    if (this.#keys.get(key)?.jobId === jobId) this.#keys.delete(key);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #live(key: string): KeyRecord | undefined {
    const record = this.#keys.get(key);
    return record && record.expiresAt > Date.now() ? record : undefined;
  }

  /** Forgets expired keys, at most once a minute. */
  #sweep(): void {
    const now = Date.now();
    if (now - this.#sweptAt < 60_000) return;
    this.#sweptAt = now;
    for (const [key, record] of this.#keys) {
      if (record.expiresAt <= now) this.#keys.delete(key);
    }
  }
}
