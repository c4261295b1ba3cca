/**
 * The outbox shared by every instance on Redis. Jobs' ends arrive in the job store's `ended` set,
 * added by the very write that ends a job (`RedisJobStore`'s `endedFeed`); any instance turns
 * an end into its deliveries, and any instance sends a due delivery. Both steps are claimed with
 * a lease in one script (the set's score becomes the lease's end), so however many instances
 * poll, one works on each at a time, and the work of an instance that died is taken up by
 * another when its lease runs out. A delivery is kept until its sender ends it; ending,
 * rescheduling or releasing it checks the lease is still the sender's.
 *
 * Keys, under the store's prefix: `ended` (job ids by time), `hooks:due` (delivery ids by due
 * time or lease end), `hooks:deliveries` (a hash of deliveries as JSON).
 *
 * @module
 */

import { Redis } from "ioredis";
import type { JobRecord } from "../core/job.ts";
import { closeClient, failFastOptions } from "../store/redis_protocol.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import type { Delivery, Outbox } from "./outbox.ts";

// The time of the Redis server, so instances with skewed clocks agree on leases.
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

// KEYS: a sorted set. ARGV: lease ms, most. Leases the members due now: [member, lease, ...].
const LEASE_DUE = `
${NOW}
local out = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  local lease = now + tonumber(ARGV[1])
  redis.call('ZADD', KEYS[1], 'XX', lease, member)
  table.insert(out, member)
  table.insert(out, lease)
end
return out
`;

// Whether KEYS[1]'s member ARGV[1] still has score ARGV[2]: the caller's lease holds.
const HOLDS = `
local function holds(key, member, lease)
  return tonumber(redis.call('ZSCORE', key, member) or '-1') == tonumber(lease)
end
`;

// KEYS: ended, due, deliveries. ARGV: job id, lease, then id, JSON, due time of each delivery.
const EXPAND = `
${HOLDS}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
for i = 3, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[i + 2], ARGV[i])
  end
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
`;

// KEYS: due, deliveries. ARGV: id, lease, JSON, delay ms (rescheduled) or '' (removed).
const SETTLE = `
${HOLDS}
if not holds(KEYS[1], ARGV[1], ARGV[2]) then return 0 end
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  ${NOW}
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[1])
end
return 1
`;

/** Settings of a {@linkcode RedisOutbox}. */
export interface RedisOutboxOptions {
  /** The Redis of the job store. */
  url: string;
  /** The job store's key prefix, `qf:` by default: its `ended` set is read. */
  prefix?: string;
  /** Reads an ended job's record. */
  getJob(id: string): Promise<JobRecord | undefined>;
  /** The deliveries of an ended job. */
  deliveriesOf(record: JobRecord): Delivery[];
}

/** An {@linkcode Outbox} on Redis; create it with {@linkcode RedisOutbox.connect}. */
export class RedisOutbox implements Outbox {
  readonly #client: Redis;
  readonly #options: RedisOutboxOptions;
  readonly #prefix: string;

  private constructor(client: Redis, options: RedisOutboxOptions) {
    this.#client = client;
    this.#options = options;
    this.#prefix = options.prefix ?? "qf:";
    client.on("error", () => {}); // commands fail fast meanwhile, and say why
  }

  /** Connects; throws {@linkcode StoreUnavailableError} when Redis does not answer. */
  static async connect(options: RedisOutboxOptions): Promise<RedisOutbox> {
    const client = new Redis(options.url, failFastOptions());
    try {
      await client.connect();
    } catch (error) {
      client.disconnect();
      throw new StoreUnavailableError("Redis", { cause: error });
    }
    return new RedisOutbox(client, options);
  }

  /** Nothing to do: the write that ended the job put it in the `ended` set. */
  add(): void {}

  /**
   * Turns jobs that ended into their deliveries, then leases up to `max` due deliveries.
   */
  async claim(max: number, leaseMs: number): Promise<Delivery[]> {
    return await this.#run(async () => {
      await this.#expandEnded(max, leaseMs);
      const leased = await this.#client.eval(
        LEASE_DUE,
        1,
        this.#key("hooks:due"),
        leaseMs,
        max,
      ) as (string | number)[];
      const ids: string[] = [];
      const leases: number[] = [];
      for (let i = 0; i < leased.length; i += 2) {
        ids.push(String(leased[i]));
        leases.push(Number(leased[i + 1]));
      }
      if (ids.length === 0) return [];
      const stored = await this.#client.hmget(this.#key("hooks:deliveries"), ...ids);
      const out: Delivery[] = [];
      stored.forEach((json, i) => {
        if (json === null) return; // ended by a sender whose lease had run out
        out.push({ ...(JSON.parse(json) as Delivery), lease: leases[i] as number });
      });
      return out;
    });
  }

  async retry(delivery: Delivery): Promise<void> {
    const { lease: _, ...kept } = delivery;
    await this.#settle(delivery, JSON.stringify(kept), Math.max(0, delivery.dueAt - Date.now()));
  }

  async remove(delivery: Delivery): Promise<void> {
    await this.#settle(delivery, "", "");
  }

  async release(delivery: Delivery): Promise<void> {
    const { lease: _, ...kept } = delivery;
    await this.#settle(delivery, JSON.stringify(kept), 0);
  }

  async close(): Promise<void> {
    await closeClient(this.#client);
  }

  async #expandEnded(max: number, leaseMs: number): Promise<void> {
    const leased = await this.#client.eval(
      LEASE_DUE,
      1,
      this.#key("ended"),
      leaseMs,
      max,
    ) as (string | number)[];
    for (let i = 0; i < leased.length; i += 2) {
      const id = String(leased[i]);
      const record = await this.#options.getJob(id);
      const deliveries = record ? this.#options.deliveriesOf(record) : [];
      await this.#client.eval(
        EXPAND,
        3,
        this.#key("ended"),
        this.#key("hooks:due"),
        this.#key("hooks:deliveries"),
        id,
        leased[i + 1] as number,
        ...deliveries.flatMap((d) => [d.id, JSON.stringify(d), d.dueAt]),
      );
    }
  }

  async #settle(delivery: Delivery, json: string, delayMs: number | ""): Promise<void> {
    await this.#run(() =>
      this.#client.eval(
        SETTLE,
        2,
        this.#key("hooks:due"),
        this.#key("hooks:deliveries"),
        delivery.id,
        delivery.lease ?? -1,
        json,
        delayMs,
      )
    );
  }

  #key(name: string): string {
    return this.#prefix + name;
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
