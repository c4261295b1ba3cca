/**
 * Sends due webhook deliveries: each attempt is signed afresh (a new `webhook-timestamp`, the
 * same `webhook-id`), posted with a time limit and without following redirects, and counts as
 * delivered on a 2xx answer. A failure (another status, a timeout, no connection) is tried again
 * after an exponential backoff with jitter, until `retryForMs` after the event; a destination
 * the guard refuses is given up at once. Deliveries are claimed from the outbox with a lease,
 * so several senders (instances) never work on one delivery at the same time.
 *
 * @module
 */

import { type Logger, silentLogger } from "../core/logger.ts";
import type { Reading } from "../core/reading.ts";
import { describeError } from "../core/describe_error.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import { type DestinationGuard, DestinationRefusedError } from "./destination_guard.ts";
import type { Delivery, Outbox } from "./outbox.ts";
import type { WebhookSigner } from "./webhook_signer.ts";

/** Settings of a {@linkcode WebhookSender}. */
export interface WebhookSenderOptions {
  /** Where deliveries wait. */
  outbox: Outbox;
  /** Signs each attempt. */
  signer: WebhookSigner;
  /** Refuses destinations that are not public (unless allowed). */
  guard: DestinationGuard;
  /** Time limit of one attempt, in ms. */
  timeoutMs: number;
  /** How long after its event a delivery is tried again, in ms. */
  retryForMs: number;
  /** Wait before the first retry, in ms (doubling from there, with jitter). Default 1 000. */
  minRetryMs?: number;
  /** Longest wait between two attempts, in ms. Default one hour. */
  maxRetryMs?: number;
  /** How often the outbox is looked at when nothing says so, in ms. Default 1 000. */
  pollMs?: number;
  /** Attempts made at once. Default 8. */
  concurrency?: number;
  /** The `user-agent` of attempts. */
  userAgent?: string;
  /** Logs. */
  logger?: Logger;
}

/** The wait before attempt `failed + 1`: doubling from `min`, capped at `max`, in [½, 1] of it. */
function backoff(failed: number, min: number, max: number): number {
  const base = Math.min(max, min * 2 ** (failed - 1));
  return Math.round(base / 2 + Math.random() * base / 2);
}

/** Sends what the outbox holds; `start` it, `stop` it before closing the outbox. */
export class WebhookSender {
  readonly #options: WebhookSenderOptions;
  readonly #logger: Logger;
  readonly #stop = new AbortController();
  readonly #attempts = new ReleasingMap<number, Promise<void>>();
  #attemptSerial = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #nudged = false;
  #delivered = 0;
  #retries = 0;
  #failures = 0;
  #claimFailing = false;

  /** Creates the sender; nothing is sent until `start`. */
  constructor(options: WebhookSenderOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Starts sending. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Looks at the outbox now: something was added. */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  /**
   * Stops: attempts under way are cut off and their deliveries given back, for the next start or
   * another instance.
   */
  async stop(): Promise<void> {
    this.#stop.abort(new DOMException("The service is stopping", "AbortError"));
    this.#wake?.();
    await this.#loop;
    await Promise.allSettled([...this.#attempts.values()]);
  }

  /** Counters for `/metrics`. */
  readings(): Record<string, Reading> {
    return {
      quillflow_webhook_deliveries_total: {
        type: "counter",
        help: "Webhooks delivered (answered 2xx).",
        values: [["", this.#delivered]],
      },
      quillflow_webhook_retries_total: {
        type: "counter",
        help: "Webhook attempts that failed and will be tried again.",
        values: [["", this.#retries]],
      },
      quillflow_webhook_failures_total: {
        type: "counter",
        help: "Webhooks given up: a refused destination, or still failing after WEBHOOK_RETRY_FOR.",
        values: [["", this.#failures]],
      },
    };
  }

  async #run(): Promise<void> {
    const { outbox, concurrency = 8, pollMs = 1_000, timeoutMs } = this.#options;
    // Long enough for the name lookup and the attempt, so a live sender keeps its lease.
    const leaseMs = timeoutMs + 15_000;
    const stopped = this.#stop.signal;
    while (!stopped.aborted) {
      this.#nudged = false;
      const room = concurrency - this.#attempts.size;
      let claimed: Delivery[] = [];
      if (room > 0) {
        try {
          claimed = await outbox.claim(room, leaseMs);
          if (this.#claimFailing) this.#logger.log("info", "webhook outbox readable again", {});
          this.#claimFailing = false;
        } catch (error) {
          // Once per outage: the outbox (Redis) says so itself meanwhile.
          if (!this.#claimFailing) {
            this.#logger.log("warn", "webhook outbox unreadable", { error: describeError(error) });
          }
          this.#claimFailing = true;
        }
      }
      for (const delivery of claimed) {
        const serial = this.#attemptSerial++;
        const attempt = this.#attempt(delivery).finally(() => {
          this.#attempts.delete(serial);
          this.#wake?.();
        });
        this.#attempts.set(serial, attempt);
      }
      if (stopped.aborted) break;
      if (this.#nudged || (room > 0 && claimed.length === room && !this.#claimFailing)) continue;
      await this.#sleep(pollMs);
    }
  }

  /** Waits `ms`, or less when nudged, an attempt ends, or the sender stops. */
  async #sleep(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#wake = resolve;
    const timer = setTimeout(resolve, ms);
    try {
      await promise;
    } finally {
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  async #attempt(delivery: Delivery): Promise<void> {
    const { outbox, signer, guard, timeoutMs } = this.#options;
    const stopped = this.#stop.signal;
    if (stopped.aborted) {
      await this.#settle(() => outbox.release(delivery));
      return;
    }
    let outcome: string;
    try {
      const url = new URL(delivery.endpoint);
      await guard.check(url);
      const signed = await signer.sign(
        delivery.webhookId,
        Math.floor(Date.now() / 1000),
        delivery.body,
      );
      const response = await fetch(url, {
        method: "POST",
        headers: {
          ...signed,
          "content-type": "application/json",
          ...(this.#options.userAgent ? { "user-agent": this.#options.userAgent } : {}),
        },
        body: delivery.body,
        // A redirect could lead inward, past the guard: it counts as a failure.
        redirect: "manual",
        signal: AbortSignal.any([stopped, AbortSignal.timeout(timeoutMs)]),
      });
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) {
        await this.#settle(() => outbox.remove(delivery));
        this.#delivered++;
        this.#logger.log("info", "webhook delivered", this.#about(delivery, delivery.attempts + 1));
        return;
      }
      outcome = `answered ${response.status}`;
    } catch (error) {
      if (stopped.aborted) {
        await this.#settle(() => outbox.release(delivery));
        return;
      }
      // A name without an address may get one again; an address that is not public will not.
      if (error instanceof DestinationRefusedError && error.reason === "not_public") {
        await this.#settle(() => outbox.remove(delivery));
        this.#failures++;
        this.#logger.log("error", "webhook refused", {
          ...this.#about(delivery, delivery.attempts + 1),
          error: error.message,
        });
        return;
      }
      outcome = error instanceof DOMException && error.name === "TimeoutError"
        ? `no answer within ${timeoutMs} ms`
        : describeError(error);
    }
    await this.#failed(delivery, outcome);
  }

  async #failed(delivery: Delivery, outcome: string): Promise<void> {
    const { outbox, retryForMs, minRetryMs = 1_000, maxRetryMs = 3_600_000 } = this.#options;
    const attempts = delivery.attempts + 1;
    const dueAt = Date.now() + backoff(attempts, minRetryMs, maxRetryMs);
    if (dueAt > delivery.createdAt + retryForMs) {
      await this.#settle(() => outbox.remove(delivery));
      this.#failures++;
      this.#logger.log("error", "webhook given up", {
        ...this.#about(delivery, attempts),
        error: outcome,
      });
      return;
    }
    await this.#settle(() => outbox.retry({ ...delivery, attempts, dueAt }));
    this.#retries++;
    this.#logger.log("warn", "webhook failed; will retry", {
      ...this.#about(delivery, attempts),
      error: outcome,
      retryInMs: dueAt - Date.now(),
    });
  }

  /** Runs an outbox write; a failure leaves the lease to run out and the delivery to come back. */
  async #settle(write: () => Promise<void>): Promise<void> {
    await write().catch((error) =>
      this.#logger.log("warn", "webhook outbox not updated", { error: describeError(error) })
    );
  }

  /** What logs say of a delivery: no path or query, which may hold a token of the receiver. */
  #about(delivery: Delivery, attempt: number): Record<string, unknown> {
    let endpoint = "(invalid URL)";
    try {
      endpoint = new URL(delivery.endpoint).origin;
    } catch {
      // shown as invalid
    }
    return {
      job: delivery.webhookId.replace(/^msg_/, ""),
      webhookId: delivery.webhookId,
      endpoint,
      attempt,
    };
  }
}
