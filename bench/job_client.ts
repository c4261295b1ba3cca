/**
 * One job end to end, as a client sees it: submit over HTTP, open its event stream, read until
 * the server ends it (native) or until the last message (compat, whose stream the server holds
 * open after it). Kept cheap (no full SSE parse) so the load script spends its CPU on requests,
 * not on itself; the terminal event is checked by looking at the stream's tail.
 *
 * @module
 */

/** Which routes to drive: the native API or the original example's. */
export type Target = "native" | "compat";

/** Timings of one job, in ms from the moment it was submitted. */
export interface JobTiming {
  /** Until the first event (a `data:` line) arrived. */
  firstEventMs: number;
  /** Until the stream ended after the terminal event (compat: until the last message came). */
  jobMs: number;
}

const decoder = new TextDecoder();
const DATA = "data:";
const COMPAT_LAST = /data: \{"step":"(?:complete|error)"/;

/** Thrown when a job does not end with a completion. */
export class JobFailedError extends Error {
  /** Creates the error for a job whose stream ended with `tail`. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JobFailedError";
  }
}

/** Submits a job for `topic` through the native API of `baseUrl`; resolves with its id. */
export async function submitNative(baseUrl: string, topic: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  });
  if (response.status !== 202) throw new JobFailedError(`POST /api/jobs: ${response.status}`);
  return ((await response.json()) as { id: string }).id;
}

/** Submits a job for `topic` to `baseUrl` and follows it to the end. */
export async function runJob(baseUrl: string, target: Target, topic: string): Promise<JobTiming> {
  const started = performance.now();
  let streamUrl: string;
  if (target === "compat") {
    const response = await fetch(`${baseUrl}/start-job`, {
      method: "POST",
      body: new URLSearchParams({ topic }),
    });
    if (!response.ok) throw new JobFailedError(`POST /start-job: ${response.status}`);
    const { job_id } = await response.json() as { job_id: string };
    streamUrl = `${baseUrl}/progress/${job_id}`;
  } else {
    streamUrl = `${baseUrl}/api/jobs/${await submitNative(baseUrl, topic)}/events`;
  }
  const response = await fetch(streamUrl);
  if (!response.ok || !response.body) {
    throw new JobFailedError(`GET ${streamUrl}: ${response.status}`);
  }
  let firstEventMs = NaN;
  let tail = "";
  // Compat: the last message from its start, once seen. The server holds that stream open after
  // it (for the original example's page), so the client leaves once the message is whole.
  let last: string | undefined;
  for await (const chunk of response.body) {
    const text = decoder.decode(chunk);
    if (Number.isNaN(firstEventMs) && (tail + text).includes(DATA)) {
      firstEventMs = performance.now() - started;
    }
    if (target === "compat") {
      if (last !== undefined) last += text;
      else {
        const seen = tail.slice(-40) + text;
        const at = seen.search(COMPAT_LAST);
        if (at !== -1) last = seen.slice(at);
      }
    }
    tail = (tail + text).slice(-4_096);
    if (last?.includes("\n\n")) break;
  }
  const jobMs = performance.now() - started;
  const ended = target === "compat"
    ? last?.startsWith('data: {"step":"complete"') === true
    : tail.lastIndexOf("event: complete\n") !== -1;
  if (!ended) {
    throw new JobFailedError(`${streamUrl} ended without completing: …${tail.slice(-200)}`);
  }
  return { firstEventMs, jobMs };
}
