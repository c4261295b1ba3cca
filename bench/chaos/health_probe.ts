/**
 * Asks `/healthz` again and again while a fault lasts, as a load balancer would, and notes what
 * it said (`ok`, or `degraded` and what is degraded), how long it took, and when it said what.
 *
 * @module
 */

import type { Ledger } from "./ledger.ts";

/** One answer of `/healthz`. */
export interface HealthSample {
  /** `performance.now()` when asked. */
  at: number;
  /** `ok`, `degraded: {"redis":"unreachable"}`, `down` (no connection) or `hung`. */
  state: string;
}

/** A running probe. */
export class HealthProbe {
  /** Every answer, in order. */
  readonly samples: HealthSample[] = [];
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  /** Starts asking `url()` every `intervalMs`, recording waits in `ledger`. */
  constructor(ledger: Ledger, url: () => string, intervalMs = 250) {
    this.#done = (async () => {
      while (!this.#stop.signal.aborted) {
        const at = performance.now();
        const response = await ledger.request(`${url()}/healthz`, {}, "GET /healthz");
        let state: string;
        if (response instanceof Response) {
          const body = await response.json().catch(() => ({})) as Record<string, unknown>;
          const { status, ...rest } = body;
          state = status === "ok" && response.ok
            ? "ok"
            : `${String(status ?? response.status)}: ${JSON.stringify(rest)}`;
        } else {
          state = response.name === "TimeoutError" ? "hung" : "down";
        }
        this.samples.push({ at, state });
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  /** The states seen between `from` and `to` (`performance.now()` times), with counts. */
  states(from = 0, to = Infinity): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { at, state } of this.samples) {
      if (at >= from && at <= to) counts.set(state, (counts.get(state) ?? 0) + 1);
    }
    return counts;
  }

  /** The first time at or after `from` that it answered `ok`. */
  firstOk(from: number): number | undefined {
    return this.samples.find((s) => s.at >= from && s.state === "ok")?.at;
  }

  /** Stops asking. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }
}
