/**
 * `POST /api/jobs` past routing and access: the body (topic, and the job's own `webhook`), the
 * `Idempotency-Key`, and the submit. Whatever is refused for what the request says (a bad key,
 * topic or webhook) is refused before the key is looked at, so it does not touch the key.
 *
 * @module
 */

import { HttpError } from "../core/http_error.ts";
import { toSnapshot } from "../core/job.ts";
import { readSubmitBody } from "../core/topic_input.ts";
import { parseIdempotencyKey } from "../idempotency/idempotency_key.ts";
import { MemoryIdempotencyStore } from "../idempotency/idempotency_store.ts";
import {
  type IdempotentAnswer,
  IdempotentSubmit,
  submitFingerprint,
} from "../idempotency/idempotent_submit.ts";
import type { JobManager } from "../jobs/job_manager.ts";

/** Settings of a {@linkcode JobSubmission}. */
export interface JobSubmissionOptions {
  /** Where jobs go. */
  manager: Pick<JobManager, "submit" | "get">;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** Keys; by default in memory, for as long as the handler lives. */
  idempotency?: IdempotentSubmit;
  /**
   * Checks the job's own `webhook` (`undefined` or `null` when none is given) and returns the
   * URL to keep; by default any given is refused.
   */
  checkWebhook?: (value: unknown) => Promise<string | undefined>;
}

/**
 * Submits jobs from requests.
 *
 * @example
 * ```ts
 * import { JobSubmission } from "./job_submission.ts";
 * import { JobManager } from "../jobs/job_manager.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import { OfflineWriter } from "../llm/offline_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const manager = new JobManager({ store: new MemoryJobStore(), llm: new OfflineWriter() });
 * const submission = new JobSubmission({ manager, maxBodyBytes: 16_384 });
 * const post = () =>
 *   new Request("http://localhost/api/jobs", {
 *     method: "POST",
 *     headers: { "content-type": "application/json", "idempotency-key": '"tea-1"' },
 *     body: JSON.stringify({ topic: "tea" }),
 *   });
 * const first = await submission.handle(post());
 * const again = await submission.handle(post());
 * assert.equal(again.snapshot.id, first.snapshot.id);
 * assert.deepEqual([first.replayed, again.replayed], [false, true]);
 * await manager.close();
 * ```
 */
export class JobSubmission {
  readonly #manager: Pick<JobManager, "submit" | "get">;
  readonly #maxBodyBytes: number;
  readonly #idempotency: IdempotentSubmit;
  readonly #checkWebhook: (value: unknown) => Promise<string | undefined>;

  /** Creates the submitter. */
  constructor(options: JobSubmissionOptions) {
    this.#manager = options.manager;
    this.#maxBodyBytes = options.maxBodyBytes;
    this.#idempotency = options.idempotency ?? new IdempotentSubmit({
      store: new MemoryIdempotencyStore(),
      getJob: (id) => options.manager.get(id),
    });
    this.#checkWebhook = options.checkWebhook ??
      ((value) =>
        Promise.resolve(value === undefined || value === null ? undefined : refuseWebhook()));
  }

  /**
   * Submits the job `request` asks for, or replays the first answer to its `Idempotency-Key`.
   * Throws an `HttpError` for bad input and key conflicts, and what `JobManager.submit` throws.
   */
  async handle(request: Request): Promise<IdempotentAnswer> {
    const key = parseIdempotencyKey(request.headers.get("idempotency-key"));
    const body = await readSubmitBody(request, this.#maxBodyBytes);
    const webhook = await this.#checkWebhook(body.field("webhook"));
    const submit = (id?: string) =>
      this.#manager.submit(body.topic, {
        ...(id === undefined ? {} : { id }),
        ...(webhook === undefined ? {} : { webhook }),
      });
    if (key === undefined) return { snapshot: toSnapshot(await submit()), replayed: false };
    const fingerprint = await submitFingerprint(body.topic, webhook);
    return await this.#idempotency.run(key, fingerprint, submit);
  }
}

function refuseWebhook(): never {
  throw new HttpError(
    400,
    "webhook_origin_not_allowed",
    "Per-job webhooks are off: WEBHOOK_ALLOWED_ORIGINS lists no origin",
  );
}
