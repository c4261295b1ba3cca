/**
 * Checks the `webhook` URL a submit gives for its own job: an http(s) URL without credentials
 * whose origin is one of `WEBHOOK_ALLOWED_ORIGINS`, and whose host is public unless private
 * destinations are allowed. A refusal is a `400` naming what is wrong.
 *
 * @module
 */

import { HttpError } from "../core/http_error.ts";
import { type DestinationGuard, DestinationRefusedError } from "./destination_guard.ts";

/** Longest per-job webhook URL, in characters. */
export const MAX_WEBHOOK_URL = 2_048;

/**
 * The rules for per-job webhooks.
 *
 * @example
 * ```ts
 * import { DestinationGuard } from "./destination_guard.ts";
 * import { JobWebhookPolicy } from "./job_webhook_policy.ts";
 * import assert from "node:assert/strict";
 *
 * const guard = new DestinationGuard({ allowPrivate: true });
 * const policy = new JobWebhookPolicy(["https://hooks.example"], guard);
 * assert.equal(await policy.check("https://hooks.example/q?id=1"), "https://hooks.example/q?id=1");
 * assert.equal(await policy.check(undefined), undefined);
 * await assert.rejects(policy.check("https://elsewhere.example/"), /not one of WEBHOOK_ALLOWED_ORIGINS/);
 * await assert.rejects(new JobWebhookPolicy([], guard).check("https://hooks.example/"), /off/);
 * ```
 */
export class JobWebhookPolicy {
  readonly #origins: ReadonlySet<string>;
  readonly #guard: DestinationGuard;

  /** Allows `origins` (as `URL.origin` writes them), each host checked by `guard`. */
  constructor(origins: readonly string[], guard: DestinationGuard) {
    this.#origins = new Set(origins);
    this.#guard = guard;
  }

  /**
   * The webhook URL to keep with the job (`undefined`: none given, as `undefined` or `null`).
   * Throws a 400 {@linkcode HttpError}: `invalid_webhook`, `webhook_origin_not_allowed`,
   * `webhook_unresolvable` or `webhook_destination_refused`.
   */
  async check(value: unknown): Promise<string | undefined> {
    if (value === undefined || value === null) return undefined;
    if (this.#origins.size === 0) {
      throw new HttpError(
        400,
        "webhook_origin_not_allowed",
        "Per-job webhooks are off: WEBHOOK_ALLOWED_ORIGINS lists no origin",
      );
    }
    if (typeof value !== "string") {
      throw new HttpError(400, "invalid_webhook", "'webhook' must be a URL string");
    }
    if (value.length > MAX_WEBHOOK_URL) {
      throw new HttpError(
        400,
        "invalid_webhook",
        `'webhook' must be at most ${MAX_WEBHOOK_URL} characters: it has ${value.length}`,
      );
    }
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new HttpError(400, "invalid_webhook", "'webhook' is not a URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new HttpError(400, "invalid_webhook", "'webhook' must be an http or https URL");
    }
    if (url.username !== "" || url.password !== "") {
      throw new HttpError(
        400,
        "invalid_webhook",
        "'webhook' must not hold a user name or password",
      );
    }
    if (!this.#origins.has(url.origin)) {
      throw new HttpError(
        400,
        "webhook_origin_not_allowed",
        `'webhook' origin ${JSON.stringify(url.origin)} is not one of WEBHOOK_ALLOWED_ORIGINS`,
      );
    }
    try {
      await this.#guard.check(url);
    } catch (error) {
      if (!(error instanceof DestinationRefusedError)) throw error;
      throw new HttpError(
        400,
        error.reason === "unresolved" ? "webhook_unresolvable" : "webhook_destination_refused",
        `'webhook' is refused: ${error.message}`,
        { cause: error },
      );
    }
    return url.href;
  }
}
