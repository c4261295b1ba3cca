/**
 * What the instances sharing one Redis say to each other besides BullMQ's own keys: the Lua
 * scripts of admission (one atomic count of every instance's jobs and reservations) and of the
 * instances' leases on their running slots, and the time limit on each Redis call.
 *
 * @module
 */

import { StoreUnavailableError } from "../core/store_unavailable_error.ts";

/** How long a Redis call may take before a request gives up on it, in ms. */
const CALL_TIMEOUT_MS = 2_000;

// The time of the Redis server, so instances with skewed clocks agree on leases.
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/** Admission, one atomic step for every instance (see `bullmq_dispatcher.ts`). */
// KEYS: wait, active, paused, delayed, prioritized, meta, workers, reservations.
// ARGV: job id, waiting places, reservation ms, job key prefix. Returns 1 when admitted.
export const ADMIT = `
${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now)
local slots = 0
for _, worker in ipairs(redis.call('ZRANGE', KEYS[7], 0, -1)) do
  slots = slots + tonumber(string.match(worker, '|(%d+)$'))
end
local cap = tonumber(redis.call('HGET', KEYS[6], 'concurrency'))
if cap and cap < slots then slots = cap end
local held = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) +
  redis.call('LLEN', KEYS[3]) + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
for _, id in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do
  if redis.call('EXISTS', ARGV[4] .. id) == 0 then held = held + 1 end
end
if held >= slots + tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[8], now + tonumber(ARGV[3]), ARGV[1])
return 1
`;

/** Renews an instance's lease on its running slots. */
// KEYS: workers. ARGV: this instance's member (id|slots), lease ms.
export const RENEW = `
${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`;

/**
 * `call`, or a `StoreUnavailableError` when Redis does not answer within `ms` (a script's own
 * error, a `ReplyError`, is passed on).
 */
export async function withTimeout<T>(call: Promise<T>, ms = CALL_TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      call,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms}ms`)), ms);
      }),
    ]);
  } catch (error) {
    if (error instanceof Error && error.name === "ReplyError") throw error;
    throw new StoreUnavailableError("Redis", { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** The keys and channel of the protocol under `prefix`. */
export function protocolKeys(prefix: string): {
  cancels: string;
  workers: string;
  reservations: string;
  cancelFlag: (id: string) => string;
} {
  return {
    /** Where cancel requests are published to every instance. */
    cancels: `${prefix}:cancel`,
    /** Each live instance's running slots, scored by lease expiry. */
    workers: `${prefix}:admission:workers`,
    /** Places reserved by `admit`, scored by expiry. */
    reservations: `${prefix}:admission:reserved`,
    /** A job's cancel flag, read when it starts or resumes. */
    cancelFlag: (id) => `${prefix}:cancel:${id}`,
  };
}

/** The message asking the instance running job `id` to cancel it. */
export function encodeCancelMessage(id: string, reason: string): string {
  return JSON.stringify({ id, reason });
}

/**
 * The request in a cancel message, or `undefined` for anything else.
 *
 * @example
 * ```ts
 * import { encodeCancelMessage, parseCancelMessage } from "./bullmq_protocol.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseCancelMessage(encodeCancelMessage("a", "no")), { id: "a", reason: "no" });
 * assert.equal(parseCancelMessage("{"), undefined);
 * ```
 */
export function parseCancelMessage(message: string): { id: string; reason: string } | undefined {
  let request: { id?: unknown; reason?: unknown } | undefined;
  try {
    request = JSON.parse(message);
  } catch {
    return undefined;
  }
  const id = request?.id;
  const reason = request?.reason;
  return typeof id === "string" && typeof reason === "string" ? { id, reason } : undefined;
}
