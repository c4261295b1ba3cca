/**
 * How the Redis store talks to Redis: connection options that fail fast, closing a client for
 * good, the Lua scripts of its fenced writes, and what a refused write throws.
 *
 * @module
 */

import type { Redis } from "ioredis";

/** An entry of a Redis Stream, as ioredis gives it. */
export type StreamEntry = [id: string, fields: string[]];

/** Connection settings that make commands fail at once while Redis is away, then reconnect. */
export function failFastOptions(enableOfflineQueue = false) {
  return {
    lazyConnect: true,
    enableOfflineQueue,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // Keep trying in the background: Redis restarting must not need a restart of ours.
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
  };
}

/** Whether `error` is Redis answering (a bad command), rather than Redis being unreachable. */
export function isReply(error: unknown): error is Error {
  return error instanceof Error && error.name === "ReplyError";
}

/** The event id of a stream entry id `0-<n>`. */
export function eventIdOf(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf("-") + 1));
}

/** Says goodbye to Redis and waits until the socket is gone, so nothing outlives the call. */
export async function closeClient(client: Redis): Promise<void> {
  const status: string = client.status;
  if (status === "end") return;
  const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
  if (status === "ready") await client.quit().catch(() => {});
  client.disconnect(); // also stops any reconnecting
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([ended, new Promise((resolve) => timer = setTimeout(resolve, 1_000))]);
  clearTimeout(timer);
}

/**
 * Thrown by a write for a job that another instance has taken over since this one was given it
 * (see {@linkcode RedisJobStore.fence}): the write is refused, so a run that lost its job (a
 * frozen event loop outlived its lock) cannot add to the log of the run that took over.
 */
export class JobTakenError extends Error {
  /** Creates the error for job `id`. */
  constructor(id: string) {
    super(`Job ${id} was taken over by another instance`);
    this.name = "JobTakenError";
  }
}

// Writes are scripts, so a fenced write checks its run token in the same step. An empty token
// is a write from outside any run (a cancel of a waiting job, say), which is not fenced.
const FENCE_CHECK =
  "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end";

// KEYS: owner, events, appended channel, order, every-job channel. ARGV: token, stream id,
// type, data, announcement, job id, event id, oldest order entry to keep.
/** Appends an event, its place in the order of every job, and tells the watchers. */
export const APPEND = `
${FENCE_CHECK}
local added = redis.pcall('XADD', KEYS[2], ARGV[2], 'type', ARGV[3], 'data', ARGV[4])
if type(added) == 'table' and added.err then return added end
redis.call('XADD', KEYS[4], 'MINID', '~', ARGV[8], '*', 'job', ARGV[6], 'event', ARGV[7])
redis.call('PUBLISH', KEYS[3], ARGV[5])
redis.call('PUBLISH', KEYS[5], ARGV[5])
return added
`;

// KEYS: owner, record, events, index, ended. ARGV: token, record JSON, created at, finished?,
// ttl, id, ended feed?
/**
 * Writes a record (with its expiry once finished) and indexes it; with the ended feed on, the
 * write that first finishes a job also adds its id to `ended`, in the same script.
 */
export const PUT = `
${FENCE_CHECK}
if ARGV[4] == '1' then
  if ARGV[7] == '1' then
    local before = redis.call('GET', KEYS[2])
    local was = before and cjson.decode(before).status
    if was ~= 'completed' and was ~= 'failed' and was ~= 'cancelled' then
      local time = redis.call('TIME')
      local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
      redis.call('ZADD', KEYS[5], 'NX', now, ARGV[6])
    end
  end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('SET', KEYS[2], ARGV[2])
end
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[6])
return 1
`;
