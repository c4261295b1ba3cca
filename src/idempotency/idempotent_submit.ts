/**
 * Idempotent submits (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): the first
 * request with a key creates the job; a later one with the same key and body gets the first
 * answer again and creates nothing; one with another body is refused (`422`), and one that
 * arrives while the first is still being handled too (`409`).
 *
 * A key is claimed before the job is submitted, naming the job id the submit will use, and
 * answered once the job is accepted. A submit that is refused (`429`, `503`) gives the key back,
 * so a refusal does not stick to it; a replay never submits, so it takes no place in the queue.
 * When the instance handling a key dies between the two, the key is left claimed: after its
 * lease, the next request looks for the job it names, replays it if it was stored, and takes the
 * key over if not.
 *
 * @module
 */

import { HttpError } from "../core/http_error.ts";
import { type JobRecord, type JobSnapshot, toSnapshot } from "../core/job.ts";
import { newJobId } from "../core/job_id.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { describeError } from "../core/describe_error.ts";
import type { IdempotencyStore, KeyRecord } from "./idempotency_store.ts";

/** What a request with a key gets: the job's snapshot, and whether it is the first answer again. */
export interface IdempotentAnswer {
  /** The job as the first answer showed it. */
  snapshot: JobSnapshot;
  /** The first answer replayed: no job was created. */
  replayed: boolean;
}

/** Settings of an {@linkcode IdempotentSubmit}. */
export interface IdempotentSubmitOptions {
  /** Where keys are kept. */
  store: IdempotencyStore;
  /** Reads a job, to settle a key whose handler died. */
  getJob(id: string): Promise<JobRecord | undefined>;
  /** How long a key is remembered, in ms. Default 24 hours. */
  ttlMs?: number;
  /** How long a key's first request may take before the key is checked against the jobs, in ms. */
  leaseMs?: number;
  /** Logs. */
  logger?: Logger;
}

/**
 * The SHA-256, in hex, of what a submit asks for: two requests with the same one would create
 * the same job.
 *
 * @example
 * ```ts
 * import { submitFingerprint } from "./idempotent_submit.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await submitFingerprint("tea", undefined), await submitFingerprint("tea", undefined));
 * assert.notEqual(await submitFingerprint("tea", undefined), await submitFingerprint("tea", "https://a.example/"));
 * ```
 */
export async function submitFingerprint(
  topic: string,
  webhook: string | undefined,
): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify([topic, webhook ?? null]));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Runs submits under their keys.
 *
 * @example
 * ```ts
 * import { IdempotentSubmit } from "./idempotent_submit.ts";
 * import { MemoryIdempotencyStore } from "./idempotency_store.ts";
 * import assert from "node:assert/strict";
 *
 * const jobs = new Map();
 * const idempotent = new IdempotentSubmit({
 *   store: new MemoryIdempotencyStore(),
 *   getJob: (id) => Promise.resolve(jobs.get(id)),
 * });
 * const submit = (id: string) => {
 *   const record = { id, topic: "tea", status: "queued" as const, progress: 0, step: null,
 *     provider: "offline", model: null, createdAt: 0, lastEventId: 1 };
 *   jobs.set(id, record);
 *   return Promise.resolve(record);
 * };
 * const first = await idempotent.run("k", "fp", submit);
 * const again = await idempotent.run("k", "fp", submit);
 * assert.deepEqual([first.replayed, again.replayed, jobs.size], [false, true, 1]);
 * assert.equal(again.snapshot.id, first.snapshot.id);
 * await assert.rejects(idempotent.run("k", "other", submit), /idempotency_key_reused|different/);
 * ```
 */
export class IdempotentSubmit {
  readonly #store: IdempotencyStore;
  readonly #getJob: (id: string) => Promise<JobRecord | undefined>;
  readonly #ttlMs: number;
  readonly #leaseMs: number;
  readonly #logger: Logger;

  /** Creates the runner. */
  constructor(options: IdempotentSubmitOptions) {
    this.#store = options.store;
    this.#getJob = options.getJob;
    this.#ttlMs = options.ttlMs ?? 86_400_000;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * Handles a request with `key` whose body has `fingerprint`: calls `submit` with the job id
   * to create, or replays the first answer. Throws a 422 {@linkcode HttpError} for another body,
   * a 409 while the first request is being handled, and what `submit` throws.
   */
  async run(
    key: string,
    fingerprint: string,
    submit: (jobId: string) => Promise<JobRecord>,
  ): Promise<IdempotentAnswer> {
    // Two rounds: a key taken over from a dead handler can be taken by another request first.
    for (let round = 0; round < 2; round++) {
      const now = Date.now();
      const mine: KeyRecord = {
        fingerprint,
        jobId: newJobId(now),
        leaseUntil: now + this.#leaseMs,
        expiresAt: now + this.#ttlMs,
      };
      const found = await this.#store.claim(key, mine);
      if (!found) return await this.#first(key, mine, submit);
      if (found.fingerprint !== fingerprint) {
        throw new HttpError(
          422,
          "idempotency_key_reused",
          "This Idempotency-Key was used with a different request body; use a new key for a new job",
        );
      }
      if (found.response) return { snapshot: found.response, replayed: true };
      if ((found.leaseUntil ?? 0) > now) break;
      // Its handler died. The job it names was stored (accepted) or not at all.
      const job = await this.#getJob(found.jobId);
      if (job) {
        const { leaseUntil: _, ...rest } = found;
        const answered = { ...rest, response: toSnapshot(job) };
        await this.#store.replace(key, found.jobId, answered);
        return { snapshot: answered.response, replayed: true };
      }
      if (await this.#store.replace(key, found.jobId, mine)) {
        return await this.#first(key, mine, submit);
      }
    }
    throw new HttpError(
      409,
      "idempotency_key_in_use",
      "A request with this Idempotency-Key is still being handled; try again shortly",
      { headers: { "retry-after": "1" } },
    );
  }

  async #first(
    key: string,
    mine: KeyRecord,
    submit: (jobId: string) => Promise<JobRecord>,
  ): Promise<IdempotentAnswer> {
    let record: JobRecord;
    try {
      record = await submit(mine.jobId);
    } catch (error) {
      // Refused (queue full, store down, shutting down): the key is free for the retry.
      await this.#store.release(key, mine.jobId).catch((cause) => this.#unsettled(key, cause));
      throw error;
    }
    const { leaseUntil: _, ...rest } = mine;
    const answered: KeyRecord = { ...rest, response: toSnapshot(record) };
    // Accepted: should this fail, the job exists, and the next request finds it (see `run`).
    await this.#store.replace(key, mine.jobId, answered).catch((cause) =>
      this.#unsettled(key, cause)
    );
    return { snapshot: answered.response as JobSnapshot, replayed: false };
  }

  #unsettled(key: string, error: unknown): void {
    this.#logger.log("warn", "idempotency key not updated; it settles after its lease", {
      key: key.slice(0, 64),
      error: describeError(error),
    });
  }
}
