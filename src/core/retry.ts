/**
 * Retrying an async operation with exponential backoff and jitter, shaped like
 * std's `retry` (`maxAttempts`, `minTimeout`, `multiplier`, `maxTimeout`, `jitter`).
 *
 * @module
 */

import { describeError } from "./describe_error.ts";
import { timerQueue } from "./timer_queue.ts";

/** Options for {@linkcode retry}. */
export interface RetryOptions {
  /** How many attempts in all, the first included. Default 3. */
  maxAttempts?: number;
  /** Wait before the second attempt, in ms. Default 200. */
  minTimeout?: number;
  /** Upper bound of a single wait, in ms. Default 10 000. */
  maxTimeout?: number;
  /** Factor between successive waits. Default 2. */
  multiplier?: number;
  /** Share of each wait that is randomised, 0 to 1. Default 1 (full jitter). */
  jitter?: number;
  /** Stops waiting and retrying as soon as it aborts. */
  signal?: AbortSignal;
  /** Whether an error is worth another attempt. Default: every error. */
  isRetryable?: (error: unknown) => boolean;
  /** Called before each wait, for logs and metrics. */
  onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
}

/** Thrown by {@linkcode retry} when every attempt failed; `cause` is the last error. */
export class RetryError extends Error {
  /** How many attempts were made. */
  readonly attempts: number;
  /** Creates the error for `attempts` failed attempts, with the last error as `cause`. */
  constructor(cause: unknown, attempts: number) {
    super(`Retrying exceeded the maxAttempts (${attempts}): ${describeError(cause)}`, { cause });
    this.name = "RetryError";
    this.attempts = attempts;
  }
}

/**
 * Calls `fn` until it resolves, waiting `minTimeout * multiplier^(n-1)` (capped, jittered)
 * between attempts. The attempt number (1-based) is passed to `fn`.
 *
 * @example Retry until success
 * ```ts
 * import { retry } from "./retry.ts";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const result = await retry(() => ++calls < 3 ? Promise.reject(new Error("flaky")) : "ok", {
 *   minTimeout: 1,
 * });
 * assert.equal(result, "ok");
 * assert.equal(calls, 3);
 * ```
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T> | T,
  options: RetryOptions = {},
): Promise<T> {
  const {
    maxAttempts = 3,
    minTimeout = 200,
    maxTimeout = 10_000,
    multiplier = 2,
    jitter = 1,
    signal,
    isRetryable = () => true,
    onRetry,
  } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(
      `Cannot retry as 'maxAttempts' must be a positive integer: current value is ${maxAttempts}`,
    );
  }
  if (jitter < 0 || jitter > 1) {
    throw new RangeError(
      `Cannot retry as 'jitter' must be between 0 and 1: current value is ${jitter}`,
    );
  }
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!isRetryable(error)) throw error;
      if (attempt >= maxAttempts) throw new RetryError(error, attempt);
      const base = Math.min(maxTimeout, minTimeout * multiplier ** (attempt - 1));
      const waitMs = Math.round(base * (1 - jitter * Math.random()));
      onRetry?.(error, attempt, waitMs);
      await delay(waitMs, signal);
    }
  }
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      timerQueue.cancel(timer);
      reject(signal?.reason);
    };
    const timer = timerQueue.schedule(ms, () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    });
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
