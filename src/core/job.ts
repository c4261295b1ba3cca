/**
 * The job record, its events, and the public snapshot shape.
 *
 * @module
 */

import { isoTime } from "./iso_time.ts";

/** Where a job is in its life. */
export type JobStatus = "queued" | "running" | "completed" | "failed" | "cancelled";

/** The workflow's steps, in order. */
export type StepName = "outline" | "content" | "style";

/** Event types of a job's log; the last three end it. */
export type JobEventType =
  | "status"
  | "progress"
  | "delta"
  | "usage"
  | "complete"
  | "error"
  | "cancelled";

/** Event types after which a job's log never grows. */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(["complete", "error", "cancelled"]);

/** Statuses a job never leaves. */
export const FINISHED_STATUSES: ReadonlySet<JobStatus> = new Set([
  "completed",
  "failed",
  "cancelled",
]);

/** One entry of a job's event log; ids run 1, 2, 3, … per job. */
export interface JobEvent {
  /** Position in the job's log, from 1. */
  readonly id: number;
  /** What happened. */
  readonly type: JobEventType;
  /** Type-specific fields, serialised as one JSON object. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** What a finished step leaves behind, so an interrupted job need not pay for it again. */
export interface JobCheckpoint {
  /** The outline's section titles. */
  sections?: string[];
  /** Written sections by index; `null` where not written yet. */
  contents?: (string | null)[];
}

/** Tokens summed over LLM requests, as the server reported them. */
export interface TokenCount {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** A step's tokens and what they cost (`null` without a price for the model). */
export interface StepUsage extends TokenCount {
  costUsd: number | null;
}

/**
 * What a job's LLM requests used, retries included; a step is `null` while no request of it
 * reported usage.
 */
export interface JobUsage extends TokenCount {
  byStep: Record<StepName, StepUsage | null>;
}

/** When a step ran, and how many LLM requests it made (every attempt counts). */
export interface StepTiming {
  /** ISO-8601. */
  startedAt: string;
  /** ISO-8601; `null` while it runs. */
  finishedAt: string | null;
  /** `null` while it runs. */
  durationMs: number | null;
  attempts: number;
}

/** Each step's timing, for the steps that have started. */
export type StepTimings = Partial<Record<StepName, StepTiming>>;

/** Everything the service keeps about a job. */
export interface JobRecord {
  id: string;
  topic: string;
  status: JobStatus;
  /** 0..100, never decreasing; 100 only once completed. */
  progress: number;
  /** The step running or last run; `null` before the first. */
  step: StepName | null;
  provider: string;
  model: string | null;
  sections?: string[];
  article?: string;
  error?: string;
  /** Epoch ms. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Id of the newest event in the log. */
  lastEventId: number;
  checkpoint?: JobCheckpoint;
  /** Times the job was picked up again after the process stopped while it was running. */
  resumes?: number;
  /** Set when a shutdown left the job unfinished on purpose, so the next start resumes it. */
  suspended?: boolean;
  /** Tokens used, once any request reported usage. */
  usage?: JobUsage | null;
  /** What they cost, when the model has a price; `null` when unknown. */
  costUsd?: number | null;
  /** Each step's timing. */
  steps?: StepTimings;
  /** The job's own webhook URL, given at submit: told of its end. Not in the snapshot. */
  webhook?: string;
}

/** The public JSON shape of a job: the record without its internals, times as ISO-8601. */
export type JobSnapshot =
  & Omit<
    JobRecord,
    "createdAt" | "startedAt" | "finishedAt" | "checkpoint" | "resumes" | "suspended" | "webhook"
  >
  & {
    createdAt: string;
    startedAt?: string;
    finishedAt?: string;
    usage: JobUsage | null;
    costUsd: number | null;
    steps: StepTimings;
  };

/**
 * The public view of a record, times as ISO-8601.
 *
 * @example
 * ```ts
 * import { toSnapshot } from "./job.ts";
 * import assert from "node:assert/strict";
 *
 * const snapshot = toSnapshot({
 *   id: "a", topic: "t", status: "queued", progress: 0, step: null,
 *   provider: "offline", model: null, createdAt: 0, lastEventId: 1,
 * });
 * assert.equal(snapshot.createdAt, "1970-01-01T00:00:00.000Z");
 * ```
 */
export function toSnapshot(job: JobRecord): JobSnapshot {
  const snapshot: JobSnapshot = {
    id: job.id,
    topic: job.topic,
    status: job.status,
    progress: job.progress,
    step: job.step,
    provider: job.provider,
    model: job.model,
    createdAt: isoTime(job.createdAt),
    lastEventId: job.lastEventId,
    usage: job.usage ?? null,
    costUsd: job.costUsd ?? null,
    steps: job.steps ?? {},
  };
  if (job.sections) snapshot.sections = job.sections;
  if (job.article !== undefined) snapshot.article = job.article;
  if (job.error !== undefined) snapshot.error = job.error;
  if (job.startedAt !== undefined) snapshot.startedAt = isoTime(job.startedAt);
  if (job.finishedAt !== undefined) snapshot.finishedAt = isoTime(job.finishedAt);
  return snapshot;
}
