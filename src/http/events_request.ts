/**
 * Reads a request for the stream of several jobs, `GET /api/events`: which jobs, and where each
 * resumes. With `?jobs=<id>[:<n>],...` (1 to 100 ids), each listed job from its first event, or
 * after event `n`; with no `jobs`, every job from now. `Last-Event-ID` (or `?since=`), a cursor
 * the stream gave out as a frame's `id:`, resumes every job at once and wins over the rest.
 *
 * @module
 */

import { HttpError } from "../core/http_error.ts";
import type { JobRecord } from "../core/job.ts";
import {
  comparePositions,
  CursorError,
  decodeEveryCursor,
  decodeListedCursor,
} from "../core/stream_cursor.ts";

/** The most jobs one stream may list. */
export const MAX_LISTED_JOBS = 100;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the stream is to deliver. */
export type EventsRequest =
  | { kind: "listed"; jobs: { record: JobRecord; afterId: number }[] }
  | { kind: "every"; position: string };

/** What reading the request needs to know of the jobs. */
export interface EventsRequestJobs {
  /** The record of job `id`, if kept. */
  get(id: string): Promise<JobRecord | undefined>;
  /** The store's newest position in the order of every job's appends, if it keeps one. */
  eventsHead(): Promise<string> | undefined;
}

function invalidJobs(message: string): HttpError {
  return new HttpError(400, "invalid_jobs", message);
}

function invalidCursor(raw: string, why: string): HttpError {
  return new HttpError(
    400,
    "invalid_cursor",
    `Last-Event-ID (or 'since') must be the id of a frame of this stream: ${why}: current value is ${
      JSON.stringify(raw.slice(0, 40))
    }`,
  );
}

/**
 * Reads `request`: throws an {@linkcode HttpError} (400 for a bad list or cursor, 404 for an
 * unknown job, 501 for every job on a store that keeps no order of them).
 *
 * @example
 * ```ts
 * import { readEventsRequest } from "./events_request.ts";
 * import assert from "node:assert/strict";
 *
 * const id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
 * const record = {
 *   id, topic: "tea", status: "running" as const, progress: 0, step: null,
 *   provider: "offline", model: null, createdAt: 0, lastEventId: 4,
 * };
 * const jobs = { get: () => Promise.resolve(record), eventsHead: () => Promise.resolve("9") };
 * const url = new URL(`http://x/api/events?jobs=${id}:2`);
 * const read = await readEventsRequest(new Request(url), url, jobs);
 * assert.deepEqual(read, { kind: "listed", jobs: [{ record, afterId: 2 }] });
 * ```
 */
export async function readEventsRequest(
  request: Request,
  url: URL,
  jobs: EventsRequestJobs,
): Promise<EventsRequest> {
  const resume = request.headers.get("last-event-id") || url.searchParams.get("since") || null;
  const list = url.searchParams.get("jobs");
  if (list === null) return { kind: "every", position: await everyFrom(resume, jobs) };

  const entries = list === "" ? [] : list.split(",").map((entry) => entry.trim());
  if (entries.length < 1 || entries.length > MAX_LISTED_JOBS) {
    throw invalidJobs(
      `'jobs' must list 1 to ${MAX_LISTED_JOBS} job ids separated by commas: it lists ${entries.length}`,
    );
  }
  const wanted: { id: string; afterId: number }[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    const match = /^([0-9a-f-]{36})(?::(\d{1,15}))?$/.exec(entry);
    const id = match?.[1];
    if (!match || id === undefined || !UUID.test(id)) {
      throw invalidJobs(
        `'jobs' must hold job ids, each optionally followed by ':<last event id seen>': ${
          JSON.stringify(entry.slice(0, 60))
        } is neither`,
      );
    }
    if (seen.has(id)) throw invalidJobs(`'jobs' lists job ${id} twice`);
    seen.add(id);
    wanted.push({ id, afterId: Number(match[2] ?? 0) });
  }
  const records = await Promise.all(wanted.map(({ id }) => jobs.get(id)));
  const missing = wanted.filter((_, i) => records[i] === undefined).map(({ id }) => id);
  if (missing.length > 0) {
    throw new HttpError(404, "not_found", `No such job: ${missing.join(", ")}`);
  }
  let afterIds = wanted.map(({ afterId }) => afterId);
  if (resume !== null) {
    try {
      afterIds = decodeListedCursor(resume.trim(), wanted.map(({ id }) => id));
    } catch (error) {
      if (!(error instanceof CursorError)) throw error;
      throw invalidCursor(resume, error.message);
    }
  }
  return {
    kind: "listed",
    jobs: wanted.map(({ id }, i) => {
      const record = records[i] as JobRecord;
      const afterId = afterIds[i] as number;
      if (afterId > record.lastEventId) {
        if (resume !== null) throw invalidCursor(resume, `job ${id} has no event ${afterId}`);
        throw new HttpError(
          400,
          "invalid_last_event_id",
          `Job ${id} has events 1 to ${record.lastEventId}: it has no event ${afterId}`,
        );
      }
      return { record, afterId };
    }),
  };
}

async function everyFrom(resume: string | null, jobs: EventsRequestJobs): Promise<string> {
  const head = await jobs.eventsHead();
  if (head === undefined) {
    throw new HttpError(
      501,
      "not_supported",
      "This service's job store keeps no order of every job's events: list the jobs with ?jobs=",
    );
  }
  if (resume === null) return head;
  let position: string;
  try {
    position = decodeEveryCursor(resume.trim());
  } catch (error) {
    if (!(error instanceof CursorError)) throw error;
    throw invalidCursor(resume, error.message);
  }
  if (comparePositions(position, head) > 0) {
    // Ahead of the store: it was emptied (a restart in memory), or the cursor is not ours.
    throw invalidCursor(resume, "the store has no such position (was it emptied?)");
  }
  return position;
}
