/**
 * What one fault scenario saw, as a client would: every request's wait (bounded, so a request
 * that hangs is counted, never awaited for ever), every job accepted with `202`, how each ended,
 * what each refusal said, and every checked event stream.
 *
 * @module
 */

/** A request that has not answered after this long counts as hung. */
export const REQUEST_BOUND_MS = 10_000;

/** How one followed event stream held up (see `job_follower.ts`). */
export interface StreamCheck {
  /** The job it followed. */
  jobId: string;
  /** What was wrong: a gap, a duplicate, an event after the terminal one, a lost job. */
  problems: string[];
  /** Whether the article equals the streamed `style` text after resets; undefined if none. */
  articleMatches: boolean | undefined;
  /** Times it connected again after a drop. */
  reconnects: number;
}

/** How an accepted job ended, as its record said at the end of the scenario. */
export type Outcome =
  | { status: "completed" }
  | { status: "failed"; reason: string }
  | { status: "lost"; reason: string };

/** What a refused or failed request answered. */
export interface Refusal {
  /** `503 store_unavailable`, `429 queue_full`, `unreachable`, `hung`... */
  kind: string;
  /** Whether a 4xx/5xx came as `{"error":{"code","message"}}` with `Retry-After` where due. */
  wellFormed: boolean;
}

/** The record of one scenario. */
export class Ledger {
  /** Job ids answered with `202`, in order. */
  readonly accepted: string[] = [];
  /** When each of `accepted` was answered, from `performance.now()`. */
  readonly acceptedAt: number[] = [];
  /** How each accepted job ended; filled by {@linkcode Ledger.settle}. */
  readonly outcomes = new Map<string, Outcome>();
  /** Refusals by kind. */
  readonly refusals = new Map<string, number>();
  /** Every refusal with its time, from `performance.now()`, in order. */
  readonly refusalLog: { at: number; kind: string; wellFormed: boolean }[] = [];
  /** Refusals that were not clean JSON with `Retry-After`, by kind. */
  readonly malformed = new Map<string, number>();
  /** Every followed stream. */
  readonly streams: StreamCheck[] = [];
  /** Requests that took longer than {@linkcode REQUEST_BOUND_MS}. */
  hung = 0;
  /** The longest wait for any answer (headers), in ms, and what it was. */
  longestWaitMs = 0;
  longestWait = "";

  /**
   * Sends a request with a bound on its wait for headers, noting the wait. Resolves with the
   * response, or with the error (connection refused, or `TimeoutError` once the bound passes).
   */
  async request(url: string, init: RequestInit = {}, what = url): Promise<Response | Error> {
    const started = performance.now();
    const bound = AbortSignal.timeout(REQUEST_BOUND_MS);
    const signal = init.signal ? AbortSignal.any([init.signal, bound]) : bound;
    try {
      return await fetch(url, { ...init, signal });
    } catch (error) {
      if (bound.aborted && !init.signal?.aborted) {
        this.hung++;
        this.refuse("hung", true);
      }
      return error instanceof Error ? error : new Error(String(error));
    } finally {
      const waited = performance.now() - started;
      // A connection refused at once is no wait; a refused request's time still counts.
      if (waited > this.longestWaitMs && !init.signal?.aborted) {
        this.longestWaitMs = waited;
        this.longestWait = what;
      }
    }
  }

  /** Counts a refusal of `kind`; `wellFormed` false marks it as a broken answer too. */
  refuse(kind: string, wellFormed: boolean): void {
    this.refusalLog.push({ at: performance.now(), kind, wellFormed });
    this.refusals.set(kind, (this.refusals.get(kind) ?? 0) + 1);
    if (!wellFormed) this.malformed.set(kind, (this.malformed.get(kind) ?? 0) + 1);
  }

  /** Notes job `id` as accepted now. */
  accept(id: string): void {
    this.accepted.push(id);
    this.acceptedAt.push(performance.now());
  }

  /**
   * Reads a refused answer: its status and error code, and whether it is the JSON error shape
   * with `Retry-After` (due on 429 and 503).
   */
  async refusal(response: Response): Promise<Refusal> {
    const text = await response.text().catch(() => "");
    let code = "no-json";
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code === "string" && typeof body.error.message === "string") {
        code = body.error.code;
      }
    } catch { /* not JSON */ }
    const needsRetryAfter = response.status === 429 || response.status === 503;
    const retryAfter = /^\d+$/.test(response.headers.get("retry-after") ?? "");
    return {
      kind: `${response.status} ${code}`,
      wellFormed: code !== "no-json" && (!needsRetryAfter || retryAfter),
    };
  }

  /**
   * Asks `baseUrl()` for each accepted job until it has finished or `deadline` passes, and
   * records how each ended. A job the service does not know, or that never finishes, is lost.
   */
  async settle(baseUrl: () => string, deadline: number): Promise<void> {
    for (const id of this.accepted) {
      if (this.outcomes.has(id)) continue;
      for (;;) {
        const response = await this.request(`${baseUrl()}/api/jobs/${id}`, {}, "GET job");
        if (response instanceof Response && response.status === 404) {
          await response.body?.cancel();
          this.outcomes.set(id, { status: "lost", reason: "the service does not know it" });
          break;
        }
        if (response instanceof Response && response.ok) {
          const job = await response.json() as { status: string; error?: string };
          if (job.status === "completed") {
            this.outcomes.set(id, { status: "completed" });
            break;
          }
          if (job.status === "failed" || job.status === "cancelled") {
            this.outcomes.set(id, { status: "failed", reason: job.error ?? job.status });
            break;
          }
        } else if (response instanceof Response) {
          await response.body?.cancel();
        }
        if (performance.now() > deadline) {
          this.outcomes.set(id, { status: "lost", reason: "never finished (stuck)" });
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
}
