/**
 * A typed client of Quillflow's HTTP API, for programs: start, read, list and cancel jobs, and
 * follow a job's events as an async iterator that reconnects by itself and resumes with
 * `Last-Event-ID`, so no event is lost or repeated across dropped connections or restarts.
 *
 * Its types come from the same schemas as the service's OpenAPI document (`src/api_schema.ts`),
 * so the two cannot drift apart. Exported from the package as `@quillflow/quillflow/client`.
 *
 * @example Write an article against a service started in this process
 * ```ts
 * import { QuillflowClient } from "./client.ts";
 * import { loadConfig } from "../config.ts";
 * import { startServer } from "../server.ts";
 * import assert from "node:assert/strict";
 *
 * const { config } = loadConfig(() => undefined, [
 *   "--port", "0", "--offline-delay-ms", "0", "--log-level", "silent",
 * ]);
 * const server = await startServer(config);
 * try {
 *   const client = new QuillflowClient(server.url);
 *   const job = await client.submit("The history of tea");
 *   const steps: string[] = [];
 *   let article = "";
 *   for await (const event of client.events(job.id)) {
 *     if (event.type === "progress") steps.push(`${event.data.progress}% ${event.data.step}`);
 *     if (event.type === "complete") article = event.data.article;
 *   }
 *   assert.equal(steps[0], "33% outline");
 *   assert.match(article, /^# The history of tea/);
 *   assert.equal((await client.get(job.id)).status, "completed");
 * } finally {
 *   await server.shutdown(0);
 * }
 * ```
 *
 * @module
 */

import type { ErrorCode, Job, JobEventType, JobList, JobStreamEvent } from "../api/api_schema.ts";
import { readServerSentEvents } from "./sse_reader.ts";

export type { ErrorCode, Job, JobEventType, JobStreamEvent };
export type { JobStatus } from "../api/api_schema.ts";

// Every event type of the document, no more and no fewer: a missing one does not compile.
const EVERY_EVENT_TYPE: Record<JobEventType, true> = {
  status: true,
  progress: true,
  delta: true,
  usage: true,
  complete: true,
  error: true,
  cancelled: true,
};
const JOB_EVENT_TYPES: ReadonlySet<string> = new Set(Object.keys(EVERY_EVENT_TYPE));
const TERMINAL: ReadonlySet<string> = new Set(["complete", "error", "cancelled"]);

/**
 * An error answer of the service (`status`, its `code` and `message`), or `status` 0 when the
 * service could not be reached or answered something that is not the API.
 *
 * @example
 * ```ts
 * import { QuillflowError } from "./client.ts";
 * import assert from "node:assert/strict";
 *
 * const error = new QuillflowError(429, "queue_full", "Too many jobs waiting", { retryAfter: 5 });
 * assert.equal(error.retryAfter, 5);
 * assert.ok(error.retryable);
 * ```
 */
export class QuillflowError extends Error {
  /** The HTTP status; 0 for no answer from the API. */
  readonly status: number;
  /** The service's error code, such as `not_found`; `network` or `bad_response` for status 0. */
  readonly code: ErrorCode | "network" | "bad_response" | (string & Record<never, never>);
  /** Seconds to wait before trying again, when the service said (`Retry-After`). */
  readonly retryAfter: number | undefined;

  /** Creates the error. */
  constructor(
    status: number,
    code: QuillflowError["code"],
    message: string,
    options: { retryAfter?: number | undefined; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "QuillflowError";
    this.status = status;
    this.code = code;
    this.retryAfter = options.retryAfter;
  }

  /** Whether the same request may succeed later: no answer, `429`, or a `5xx`. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** Settings of a {@linkcode QuillflowClient}. */
export interface QuillflowClientOptions {
  /** The service's `API_TOKEN`, sent as `Authorization: Bearer`. */
  token?: string | undefined;
  /** The `fetch` to use; the global one by default. */
  fetch?: typeof fetch;
}

/** Options of the calls that take only a signal. */
export interface CallOptions {
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** Options of {@linkcode QuillflowClient.submit}. */
export interface SubmitOptions extends CallOptions {
  /** Sent as the `Idempotency-Key` header, for services that deduplicate submits by it. */
  idempotencyKey?: string;
  /**
   * The job's own webhook: an http(s) URL told of its end (a signed Standard Webhook), whose
   * origin the service allows (`WEBHOOK_ALLOWED_ORIGINS`); a `400` otherwise.
   */
  webhook?: string;
}

/** Options of {@linkcode QuillflowClient.list}. */
export interface ListOptions extends CallOptions {
  /** How many jobs, 1 to 100; the service's default (20) when unset. */
  limit?: number;
}

/** Options of {@linkcode QuillflowClient.events}: where to start, and how to reconnect. */
export interface EventsOptions extends CallOptions {
  /** Start after this event id (0: from the first event). Default 0. */
  lastEventId?: number;
  /**
   * Connection attempts in a row that may fail (no answer, a retryable error, a stream that
   * ends without news) before the iterator throws. Any event received starts the count again.
   * Default 10.
   */
  maxAttempts?: number;
  /** The first wait before reconnecting, in ms. Default 250. */
  minTimeout?: number;
  /** The longest wait before reconnecting, in ms; also caps a `Retry-After`. Default 5000. */
  maxTimeout?: number;
  /** Each wait is this many times the one before. Default 2. */
  multiplier?: number;
}

/** Waits `ms`, or rejects with the signal's reason once it is aborted. */
function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** The error a non-2xx answer stands for. */
async function errorOf(response: Response): Promise<QuillflowError> {
  const header = response.headers.get("retry-after");
  const retryAfter = header !== null && /^\d+$/.test(header.trim()) ? Number(header) : undefined;
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    // Not JSON: a proxy's page, say.
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.code === "string" && typeof error.message === "string") {
    return new QuillflowError(response.status, error.code, error.message, { retryAfter });
  }
  return new QuillflowError(
    response.status,
    "bad_response",
    `The server answered ${response.status} ${response.statusText}`.trim(),
    { retryAfter },
  );
}

/**
 * Calls a Quillflow service. Every method throws a {@linkcode QuillflowError} for an error
 * answer, and the signal's reason once its signal is aborted.
 */
export class QuillflowClient {
  readonly #base: URL;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  /** A client of the service at `baseUrl`, such as `http://127.0.0.1:8000`. */
  constructor(baseUrl: string | URL, options: QuillflowClientOptions = {}) {
    const base = new URL(baseUrl);
    if (base.protocol !== "http:" && base.protocol !== "https:") {
      throw new TypeError(`Cannot call a server at ${base.href}: the URL must be http or https`);
    }
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.#base = base;
    this.#token = options.token || undefined;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Starts a job for `topic`; resolves with the job as queued. */
  async submit(topic: string, options: SubmitOptions = {}): Promise<Job> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    return await this.#json<Job>("api/jobs", {
      method: "POST",
      headers,
      body: JSON.stringify(
        options.webhook === undefined ? { topic } : {
          topic,
          webhook: options.webhook,
        },
      ),
      signal: options.signal,
    });
  }

  /** The job `id`, as it is now. */
  async get(id: string, options: CallOptions = {}): Promise<Job> {
    return await this.#json<Job>(`api/jobs/${encodeURIComponent(id)}`, {
      signal: options.signal,
    });
  }

  /** The newest jobs kept, newest first. */
  async list(options: ListOptions = {}): Promise<Job[]> {
    const query = options.limit === undefined ? "" : `?limit=${options.limit}`;
    const list = await this.#json<JobList>(`api/jobs${query}`, { signal: options.signal });
    return list.jobs;
  }

  /** Cancels job `id`; resolves with it as cancelled. A finished job is a `409`. */
  async cancel(id: string, options: CallOptions = {}): Promise<Job> {
    return await this.#json<Job>(`api/jobs/${encodeURIComponent(id)}`, {
      method: "DELETE",
      signal: options.signal,
    });
  }

  /**
   * Job `id`'s events, from the first (or after `options.lastEventId`), live, up to and
   * including its terminal event (`complete`, `error` or `cancelled`), where the iteration
   * ends. A dropped connection, a stream the server ends early (such as at its shutdown), a
   * `429` or a `5xx` is followed by a reconnection after a wait that grows to
   * `options.maxTimeout`, resuming with `Last-Event-ID` after the last event yielded; an event
   * is never yielded twice. Throws a {@linkcode QuillflowError} for an answer that will not
   * change (`404`, `401`, …) or once `options.maxAttempts` attempts in a row failed.
   */
  async *events(
    id: string,
    options: EventsOptions = {},
  ): AsyncGenerator<JobStreamEvent, void, undefined> {
    const {
      signal,
      maxAttempts = 10,
      minTimeout = 250,
      maxTimeout = 5_000,
      multiplier = 2,
    } = options;
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
      throw new RangeError(
        `Cannot follow events as 'maxAttempts' must be a positive integer: current value is ${maxAttempts}`,
      );
    }
    let after = options.lastEventId ?? 0;
    let failures = 0;
    const url = new URL(`api/jobs/${encodeURIComponent(id)}/events`, this.#base);
    for (;;) {
      signal?.throwIfAborted();
      let failure: QuillflowError;
      let response: Response | undefined;
      try {
        response = await this.#fetch(url, {
          headers: {
            ...this.#auth(),
            accept: "text/event-stream",
            ...(after > 0 ? { "last-event-id": String(after) } : {}),
          },
          ...(signal ? { signal } : {}),
        });
      } catch (error) {
        signal?.throwIfAborted();
        failure = new QuillflowError(0, "network", `Cannot reach ${url.origin}`, { cause: error });
      }
      if (response && !response.ok) {
        failure = await errorOf(response);
        if (!failure.retryable) throw failure;
      } else if (response) {
        failure = new QuillflowError(0, "network", "The event stream ended before the job did");
        try {
          for await (const frame of readServerSentEvents(response.body!)) {
            // Events that arrived in one chunk with one already yielded: an abort since wins.
            signal?.throwIfAborted();
            if (frame.event === "shutdown") {
              // The service is stopping: come back to it (or another instance) shortly.
              failure = new QuillflowError(503, "shutting_down", "The server shut down");
              break;
            }
            if (!JOB_EVENT_TYPES.has(frame.event)) continue;
            const eventId = Number(frame.id);
            if (!Number.isSafeInteger(eventId) || eventId <= after) continue;
            const event = {
              id: eventId,
              type: frame.event,
              data: JSON.parse(frame.data),
            } as JobStreamEvent;
            after = eventId;
            failures = 0;
            yield event;
            if (TERMINAL.has(event.type)) return;
          }
        } catch (error) {
          signal?.throwIfAborted();
          failure = error instanceof QuillflowError ? error : new QuillflowError(
            0,
            error instanceof SyntaxError ? "bad_response" : "network",
            `The event stream broke off: ${error instanceof Error ? error.message : error}`,
            { cause: error },
          );
        }
      }
      failures++;
      if (failures >= maxAttempts) throw failure!;
      const backoff = Math.min(maxTimeout, minTimeout * multiplier ** (failures - 1));
      const asked = (failure!.retryAfter ?? 0) * 1_000;
      // Jitter spreads the clients a restart dropped together.
      const wait = Math.min(maxTimeout, Math.max(asked, backoff * (0.5 + Math.random() / 2)));
      await delay(wait, signal);
    }
  }

  #auth(): Record<string, string> {
    return this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` };
  }

  async #json<T>(
    path: string,
    init: {
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      signal?: AbortSignal | undefined;
    },
  ): Promise<T> {
    const url = new URL(path, this.#base);
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: init.method ?? "GET",
        headers: { accept: "application/json", ...this.#auth(), ...init.headers },
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (error) {
      init.signal?.throwIfAborted();
      throw new QuillflowError(0, "network", `Cannot reach ${url.origin}`, { cause: error });
    }
    if (!response.ok) throw await errorOf(response);
    try {
      return await response.json() as T;
    } catch (error) {
      throw new QuillflowError(
        0,
        "bad_response",
        `${url.pathname} answered ${response.status} with a body that is not JSON`,
        { cause: error },
      );
    }
  }
}
