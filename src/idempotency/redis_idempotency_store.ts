/**
 * `Idempotency-Key`s in Redis, shared by every instance: `idem:<key>` under the store's prefix
 * holds the record as JSON and expires with it (`PX`). A claim is one script that sets the key
 * only when it is not set (`SET NX` with the TTL) and otherwise answers what is there, so two
 * instances claiming one key in the same instant get one winner.
 *
 * @module
 */

import { Redis } from "ioredis";
import { closeClient, failFastOptions } from "../store/redis_protocol.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import type { IdempotencyStore, KeyRecord } from "./idempotency_store.ts";

// KEYS: the key. ARGV: record JSON, ttl ms. The record there, or nothing once this one is set.
const CLAIM = `
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return false
`;

// KEYS: the key. ARGV: job id, record JSON (empty: delete), ttl ms. 1 when it named the job.
const REPLACE = `
local found = redis.call('GET', KEYS[1])
if not found or cjson.decode(found).jobId ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`;

/** An {@linkcode IdempotencyStore} on Redis; create it with {@linkcode RedisIdempotencyStore.connect}. */
export class RedisIdempotencyStore implements IdempotencyStore {
  readonly #client: Redis;
  readonly #prefix: string;

  private constructor(client: Redis, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
    client.on("error", () => {}); // commands fail fast meanwhile, and say why
  }

  /** Connects to `url`; throws {@linkcode StoreUnavailableError} when Redis does not answer. */
  static async connect(url: string, prefix = "qf:"): Promise<RedisIdempotencyStore> {
    const client = new Redis(url, failFastOptions());
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new StoreUnavailableError("Redis", { cause: error });
    }
    return new RedisIdempotencyStore(client, prefix);
  }

  async claim(key: string, record: KeyRecord): Promise<KeyRecord | undefined> {
    const found = await this.#run(() =>
      this.#client.eval(CLAIM, 1, this.#key(key), JSON.stringify(record), this.#ttl(record))
    );
    return typeof found === "string" ? JSON.parse(found) as KeyRecord : undefined;
  }

  async replace(key: string, jobId: string, record: KeyRecord): Promise<boolean> {
    const done = await this.#run(() =>
      this.#client.eval(
        REPLACE,
        1,
        this.#key(key),
        jobId,
        JSON.stringify(record),
        this.#ttl(record),
      )
    );
    return done === 1;
  }

  async release(key: string, jobId: string): Promise<void> {
    await this.#run(() => this.#client.eval(REPLACE, 1, this.#key(key), jobId, "", 0));
  }

  async close(): Promise<void> {
    await closeClient(this.#client);
  }

  #key(key: string): string {
    return `${this.#prefix}idem:${key}`;
  }

  #ttl(record: KeyRecord): number {
    return Math.max(1, Math.ceil(record.expiresAt - Date.now()));
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      if (error instanceof Error && error.name === "ReplyError") throw error;
      throw new StoreUnavailableError("Redis", { cause: error });
    }
  }
}
