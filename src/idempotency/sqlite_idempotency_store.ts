/**
 * `Idempotency-Key`s in the job store's SQLite file, so they outlive a restart. One process owns
 * the file, so a key claimed by this process is handled here: claims are decided in memory,
 * synchronously, and a key still claimed by a process that stopped before its job was accepted
 * is reported with its lease run out, for the caller to check whether the job exists.
 *
 * Writes go through the store's batches (`alsoWrite`): a claim made in the same turn as its job's
 * first write is committed with it, so after a crash a stored job always has its key.
 *
 * @module
 */

import { ReleasingMap } from "../core/releasing_map.ts";
import type { StatementSync } from "node:sqlite";
import type { SqliteJobStore } from "../store/sqlite_job_store.ts";
import type { IdempotencyStore, KeyRecord } from "./idempotency_store.ts";

/** How often expired keys are deleted, in ms. */
const SWEEP_MS = 60_000;

/**
 * The `idempotency_keys` table of `store`'s file, created if needed.
 *
 * @example
 * ```ts
 * import { SqliteJobStore } from "../store/sqlite_job_store.ts";
 * import { SqliteIdempotencyStore } from "./sqlite_idempotency_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = SqliteJobStore.open(":memory:");
 * const keys = new SqliteIdempotencyStore(store);
 * const pending = { fingerprint: "f", jobId: "j", leaseUntil: Date.now() + 60_000, expiresAt: Date.now() + 60_000 };
 * assert.equal(await keys.claim("k", pending), undefined);
 * assert.equal((await keys.claim("k", pending))?.leaseUntil, pending.leaseUntil, "claimed here");
 * await store.flush();
 * // Another process's pending claim, from before a restart, has no lease left.
 * const after = new SqliteIdempotencyStore(store);
 * assert.equal((await after.claim("k", pending))?.leaseUntil, 0);
 * await store.close();
 * ```
 */
export class SqliteIdempotencyStore implements IdempotencyStore {
  readonly #store: SqliteJobStore;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #delete: StatementSync;
  readonly #sweep: StatementSync;
  /** This process's writes not yet known to be in the file; `null` is a deletion. */
  readonly #unwritten = new ReleasingMap<string, KeyRecord | null>();
  /** Keys this process has claimed and not yet answered. */
  readonly #handling = new Set<string>();
  #sweptAt = 0;

  /** Opens the table in `store`'s file. */
  constructor(store: SqliteJobStore) {
    this.#store = store;
    const db = store.database;
    db.exec(`
      CREATE TABLE IF NOT EXISTS idempotency_keys (
        key TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL,
        record TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS idempotency_keys_by_expiry ON idempotency_keys (expires_at);
    `);
    this.#get = db.prepare("SELECT record FROM idempotency_keys WHERE key = ? AND expires_at > ?");
    this.#put = db.prepare(
      "INSERT OR REPLACE INTO idempotency_keys (key, expires_at, record) VALUES (?, ?, ?)",
    );
    this.#delete = db.prepare("DELETE FROM idempotency_keys WHERE key = ?");
    this.#sweep = db.prepare("DELETE FROM idempotency_keys WHERE expires_at <= ?");
  }

  claim(key: string, record: KeyRecord): Promise<KeyRecord | undefined> {
    this.#sweepExpired();
    const found = this.#read(key);
    if (found) {
      // Pending, and not here: its process stopped before answering.
      const stale = found.response === undefined && !this.#handling.has(key);
      return Promise.resolve(stale ? { ...found, leaseUntil: 0 } : found);
    }
    this.#handling.add(key);
    this.#write(key, record);
    return Promise.resolve(undefined);
  }

  replace(key: string, jobId: string, record: KeyRecord): Promise<boolean> {
    if (this.#read(key)?.jobId !== jobId) return Promise.resolve(false);
    if (record.response === undefined) this.#handling.add(key);
    else this.#handling.delete(key);
    this.#write(key, record);
    return Promise.resolve(true);
  }

  release(key: string, jobId: string): Promise<void> {
    if (this.#read(key)?.jobId !== jobId) return Promise.resolve();
    this.#handling.delete(key);
    this.#write(key, null);
    return Promise.resolve();
  }

  /** Nothing to close: the job store owns the file. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  #read(key: string): KeyRecord | undefined {
    const record = this.#unwritten.has(key)
      ? this.#unwritten.get(key)
      : this.#parse(this.#get.get(key, Date.now())?.record);
    return record && record.expiresAt > Date.now() ? record : undefined;
  }

  #write(key: string, record: KeyRecord | null): void {
    this.#unwritten.set(key, record);
    const written = this.#store.alsoWrite(() => {
      if (record) this.#put.run(key, record.expiresAt, JSON.stringify(record));
      else this.#delete.run(key);
    });
    // Once in the file, reads go there; a failed batch is tried again, so it stays here until.
    written.then(() => {
      if (this.#unwritten.get(key) === record) this.#unwritten.delete(key);
    }, () => {});
  }

  #sweepExpired(): void {
    const now = Date.now();
    if (now - this.#sweptAt < SWEEP_MS) return;
    this.#sweptAt = now;
    this.#store.alsoWrite(() => this.#sweep.run(now)).catch(() => {});
  }

  #parse(raw: unknown): KeyRecord | undefined {
    return raw === undefined || raw === null ? undefined : JSON.parse(String(raw)) as KeyRecord;
  }
}
