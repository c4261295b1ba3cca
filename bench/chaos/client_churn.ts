/**
 * Clients that come and go: each opens a random job's event stream (from the start, or resuming
 * where an earlier client left it), reads for a random while, and drops the connection without a
 * word, as closed tabs and flaky phones do. Every stream read is checked like any other.
 *
 * @module
 */

import { followJob } from "./job_follower.ts";
import type { Ledger } from "./ledger.ts";

/** Options for {@linkcode runChurn}. */
export interface ChurnOptions {
  /** Clients in all. */
  clients: number;
  /** Clients connected at once. */
  concurrent: number;
  /** Each reads for a random time in this range, in ms. */
  holdMs: readonly [number, number];
}

/** Options of one {@linkcode runChurn} run. */
export interface ChurnRun extends ChurnOptions {
  /** No client starts once it aborts (those connected stay their time). */
  stop?: AbortSignal;
}

/**
 * Runs `options.clients` clients (fewer if `stop` aborts first) against `url()` on jobs from
 * `ids()`; resolves with how many connected, once all have left.
 */
export async function runChurn(
  ledger: Ledger,
  url: () => string,
  ids: () => readonly string[],
  options: ChurnRun,
): Promise<number> {
  const resumeFrom = new Map<string, number>();
  let started = 0;
  const client = async () => {
    while (started < options.clients && !options.stop?.aborted) {
      const known = ids();
      if (known.length === 0) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      started++;
      const id = known[Math.floor(Math.random() * known.length)] as string;
      const [min, max] = options.holdMs;
      const leave = AbortSignal.timeout(min + Math.random() * (max - min));
      const afterId = Math.random() < 0.5 ? resumeFrom.get(id) ?? 0 : 0;
      const seen = await followJob(ledger, url, id, {
        deadline: performance.now() + max + 1_000,
        afterId,
        signal: leave,
      });
      resumeFrom.set(id, seen.lastId);
    }
  };
  await Promise.all(Array.from({ length: options.concurrent }, client));
  return started;
}
