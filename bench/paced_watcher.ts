/**
 * One job watched as a reader of a paced LLM's text sees it: submit it through the native API,
 * follow its event stream, and for each `delta` event record the age of the newest word in it
 * when it arrived (`llm_server.ts` stamps every word with the time it was sent). Reads over
 * `tcp_http_client.ts`, the cheapest reader, so hundreds of watchers in one process cost little
 * next to the servers they measure.
 *
 * @module
 */

import { JobFailedError } from "./job_client.ts";
import { stampedAge } from "./llm_server.ts";
import { tcpRequest } from "./tcp_http_client.ts";

/** What one watched job saw. */
export interface PacedJob {
  /** From the submit to the end of the stream, in ms. */
  jobMs: number;
  /** Delivery lag of each delta event that held a stamped word, in ms. */
  lags: number[];
}

/** Submits a job for `topic` to `baseUrl` and watches it to its end. */
export async function watchPacedJob(baseUrl: string, topic: string): Promise<PacedJob> {
  const started = performance.now();
  let answer = "";
  const decoder = new TextDecoder();
  const submitted = await tcpRequest(
    new URL(`${baseUrl}/api/jobs`),
    { method: "POST", json: JSON.stringify({ topic }) },
    (piece) => answer += decoder.decode(piece, { stream: true }),
  );
  if (submitted !== 202) throw new JobFailedError(`POST /api/jobs: ${submitted} ${answer}`);
  const { id } = JSON.parse(answer) as { id: string };
  const lags: number[] = [];
  let carry = "";
  let completed = false;
  const status = await tcpRequest(
    new URL(`${baseUrl}/api/jobs/${id}/events`),
    { method: "GET" },
    (piece) => {
      const now = performance.timeOrigin + performance.now();
      const text = carry + decoder.decode(piece, { stream: true });
      let start = 0;
      let end: number;
      while ((end = text.indexOf("\n\n", start)) !== -1) {
        const frame = text.slice(start, end);
        start = end + 2;
        if (frame.includes("\nevent: delta\n")) {
          const age = stampedAge(frame, now);
          if (!Number.isNaN(age)) lags.push(age);
        } else if (frame.includes("\nevent: complete\n")) completed = true;
      }
      carry = text.slice(start);
    },
  );
  if (status !== 200) throw new JobFailedError(`GET events of ${id}: ${status}`);
  if (!completed) throw new JobFailedError(`Job ${id} ended without completing: …${carry}`);
  return { jobMs: performance.now() - started, lags };
}
