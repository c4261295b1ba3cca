/**
 * The webhook event of a job's end: its type, its Standard Webhooks body (`type`, `timestamp`,
 * `data`: the job snapshot) and one delivery per endpoint.
 *
 * @module
 */

import { isoTime } from "../core/iso_time.ts";
import { type JobRecord, toSnapshot } from "../core/job.ts";
import type { Delivery } from "./outbox.ts";

/** The event types, by the job's final status. */
export const EVENT_TYPES = {
  completed: "job.completed",
  failed: "job.failed",
  cancelled: "job.cancelled",
} as const;

/** A webhook event type. */
export type JobEndEventType = (typeof EVENT_TYPES)[keyof typeof EVENT_TYPES];

/**
 * The deliveries of finished job `record`'s end: one to each of `endpoints` and one to the
 * job's own `webhook`, each URL once; none for a job not finished. The `webhook-id` is
 * `msg_` and the job id: a job ends once, so its end has one id wherever it is sent.
 *
 * @example
 * ```ts
 * import { deliveriesOfEnd } from "./job_end_event.ts";
 * import assert from "node:assert/strict";
 *
 * const record = {
 *   id: "0190a6f2-0000-7000-8000-000000000000", topic: "tea", status: "cancelled" as const,
 *   progress: 0, step: null, provider: "offline", model: null, createdAt: 0, finishedAt: 1_000,
 *   lastEventId: 2, webhook: "https://a.example/hook",
 * };
 * const [first, second] = deliveriesOfEnd(record, ["https://a.example/hook", "https://b.example/"]);
 * assert.equal(first?.webhookId, "msg_0190a6f2-0000-7000-8000-000000000000");
 * assert.equal(second?.endpoint, "https://b.example/");
 * const body = JSON.parse(first?.body ?? "");
 * assert.equal(body.type, "job.cancelled");
 * assert.equal(body.timestamp, "1970-01-01T00:00:01.000Z");
 * assert.equal(body.data.status, "cancelled");
 * assert.equal(body.data.webhook, undefined);
 * ```
 */
export function deliveriesOfEnd(record: JobRecord, endpoints: readonly string[]): Delivery[] {
  if (
    record.status !== "completed" && record.status !== "failed" && record.status !== "cancelled"
  ) {
    return [];
  }
  const at = record.finishedAt ?? Date.now();
  const body = JSON.stringify({
    type: EVENT_TYPES[record.status],
    timestamp: isoTime(at),
    data: toSnapshot(record),
  });
  const webhookId = `msg_${record.id}`;
  const targets = new Set(endpoints);
  if (record.webhook !== undefined) targets.add(record.webhook);
  return [...targets].map((endpoint) => ({
    id: `${webhookId} ${endpoint}`,
    webhookId,
    endpoint,
    body,
    createdAt: at,
    attempts: 0,
    dueAt: at,
  }));
}
