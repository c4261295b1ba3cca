/**
 * Load as clients make it: `lanes` clients, each submitting a job (again and again while it is
 * refused), then following it to its end, then the next, until `jobs` have been accepted.
 *
 * @module
 */

import { followJob, type FollowResult } from "./job_follower.ts";
import type { Ledger } from "./ledger.ts";

/** Options for {@linkcode runLanes}. */
export interface LaneOptions {
  /** Where everything is recorded. */
  ledger: Ledger;
  /** Jobs to get accepted in all (at most, with `stop`). */
  jobs: number;
  /** Lanes submit nothing more once it aborts (they still follow their jobs to the end). */
  stop?: AbortSignal;
  /** Clients at once. */
  lanes: number;
  /** The base URL to submit job `n` to (several instances: spread them). */
  submitUrl: (n: number) => string;
  /** The base URL to follow job `n` on, asked again at every reconnect. */
  watchUrl: (n: number) => string;
  /** Lanes stop submitting, and followers give up, at this `performance.now()`. */
  deadline: number;
  /** Wait after a refused submit in ms. Default 200. */
  retryMs?: number;
  /** Topic of job `n`. */
  topic?: (n: number) => string;
}

/** Submits one job once; resolves with its id if accepted, noting a refusal otherwise. */
export async function submitOnce(
  ledger: Ledger,
  url: string,
  topic: string,
): Promise<string | undefined> {
  const response = await ledger.request(`${url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  }, "POST /api/jobs");
  if (response instanceof Response && response.status === 202) {
    const { id } = await response.json() as { id: string };
    ledger.accept(id);
    return id;
  }
  if (response instanceof Response) {
    const { kind, wellFormed } = await ledger.refusal(response);
    ledger.refuse(kind, wellFormed);
  } else if (response.name !== "TimeoutError") {
    ledger.refuse("unreachable", true); // down: connection refused or reset
  }
  return undefined;
}

/**
 * Submits one job until it is accepted (or the deadline passes, or `stop` aborts); resolves with
 * its id.
 */
export async function submitUntilAccepted(
  ledger: Ledger,
  url: () => string,
  topic: string,
  deadline: number,
  retryMs = 200,
  stop?: AbortSignal,
): Promise<string | undefined> {
  while (performance.now() < deadline && !stop?.aborted) {
    const id = await submitOnce(ledger, url(), topic);
    if (id !== undefined) return id;
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
  return undefined;
}

/** Runs the lanes; resolves with every followed stream once all are done. */
export async function runLanes(options: LaneOptions): Promise<FollowResult[]> {
  const { ledger, deadline } = options;
  const topic = options.topic ?? ((n: number) => `chaos topic ${n}`);
  const results: FollowResult[] = [];
  let next = 0;
  const lane = async () => {
    while (next < options.jobs && performance.now() < deadline && !options.stop?.aborted) {
      const n = next++;
      const id = await submitUntilAccepted(
        ledger,
        () => options.submitUrl(n),
        topic(n),
        deadline,
        options.retryMs,
        options.stop,
      );
      if (id === undefined) return;
      results.push(await followJob(ledger, () => options.watchUrl(n), id, { deadline }));
    }
  };
  await Promise.all(Array.from({ length: options.lanes }, lane));
  return results;
}

/**
 * Submits one job every `everyMs` until `stop` aborts, each on its own (a hung one does not hold
 * back the next), as many separate clients would while a fault lasts; follows each accepted job
 * to its end. Resolves once every one is done.
 */
export async function probeSubmits(
  ledger: Ledger,
  url: () => string,
  everyMs: number,
  stop: AbortSignal,
  deadline: number,
): Promise<void> {
  const pending: Promise<unknown>[] = [];
  for (let n = 0; !stop.aborted; n++) {
    pending.push((async () => {
      const id = await submitOnce(ledger, url(), `probe ${n}`);
      if (id !== undefined) await followJob(ledger, url, id, { deadline });
    })());
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  await Promise.all(pending);
}
