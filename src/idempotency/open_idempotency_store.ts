/**
 * The key store that goes with a job store: keys live where the jobs do, so they outlive a
 * restart with SQLite and are shared by every instance with Redis.
 *
 * @module
 */

import type { JobStore } from "../core/job_store.ts";
import { SqliteJobStore } from "../store/sqlite_job_store.ts";
import { type IdempotencyStore, MemoryIdempotencyStore } from "./idempotency_store.ts";
import { SqliteIdempotencyStore } from "./sqlite_idempotency_store.ts";

/**
 * Opens the key store beside `store`: Redis at `redisUrl` when given (`STORE=redis`), the
 * SQLite file of a {@linkcode SqliteJobStore}, else memory. Throws a `StoreUnavailableError`
 * when Redis does not answer.
 *
 * @example
 * ```ts
 * import { openIdempotencyStore } from "./open_idempotency_store.ts";
 * import { MemoryIdempotencyStore } from "./idempotency_store.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(await openIdempotencyStore(new MemoryJobStore()) instanceof MemoryIdempotencyStore);
 * ```
 */
export async function openIdempotencyStore(
  store: JobStore,
  redisUrl?: string,
): Promise<IdempotencyStore> {
  if (redisUrl !== undefined) {
    // Loaded only for STORE=redis, as the store itself is.
    const { RedisIdempotencyStore } = await import("./redis_idempotency_store.ts");
    return await RedisIdempotencyStore.connect(redisUrl);
  }
  if (store instanceof SqliteJobStore) return new SqliteIdempotencyStore(store);
  return new MemoryIdempotencyStore();
}
