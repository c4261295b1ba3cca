/**
 * A job's accounting: the tokens its LLM requests used (summed over every attempt: a retried
 * request is paid for too), what they cost at the model's price, and when each step ran and how
 * many requests it made. Kept in the job's record, so snapshots show it, and sent as `usage`
 * events, so watchers and a recovering service see it too.
 *
 * @module
 */

import { isoTime } from "../core/iso_time.ts";
import type { Clock } from "../core/clock.ts";
import type {
  JobEvent,
  JobRecord,
  JobUsage,
  StepName,
  StepTiming,
  StepTimings,
  StepUsage,
} from "../core/job.ts";
import type { LlmUsage } from "../llm/llm_client.ts";
import { costOf, type LlmPrice } from "../llm/llm_prices.ts";

const STEPS: readonly StepName[] = ["outline", "content", "style"];

/** What a `usage` event, the `complete` event and a snapshot say of a job's accounting. */
export interface UsageSummary {
  /** `null` while no request reported usage. */
  usage: JobUsage | null;
  /** `null` when the usage or the model's price is unknown. */
  costUsd: number | null;
  steps: StepTimings;
}

/**
 * Keeps `record.usage`, `record.costUsd` and `record.steps` as a run goes on. A record that
 * already has them (a resumed job) goes on from what it has.
 *
 * @example
 * ```ts
 * import { UsageMeter } from "./job_usage.ts";
 * import type { JobRecord } from "../core/job.ts";
 * import assert from "node:assert/strict";
 *
 * const record: JobRecord = {
 *   id: "a", topic: "tea", status: "running", progress: 0, step: null,
 *   provider: "openai", model: "m", createdAt: 0, lastEventId: 1,
 * };
 * let now = 1_000;
 * const meter = new UsageMeter(record, { input: 1, output: 2 }, { now: () => now });
 * meter.started("outline");
 * meter.attempt("outline", null); // a failed attempt: paid for, not counted by the server
 * meter.attempt("outline", { promptTokens: 10, completionTokens: 5, totalTokens: 15 });
 * now = 1_250;
 * meter.finished("outline");
 * assert.equal(record.usage?.totalTokens, 15);
 * assert.equal(record.costUsd, 0.00002);
 * assert.equal(record.steps?.outline?.attempts, 2);
 * assert.equal(record.steps?.outline?.durationMs, 250);
 * ```
 */
export class UsageMeter {
  readonly #record: JobRecord;
  readonly #price: LlmPrice | undefined;
  readonly #clock: Clock;
  /** Start times in ms of the steps running now. */
  readonly #running = new Map<StepName, number>();

  /** Meters `record`'s run; `price` is its model's, if known. */
  constructor(record: JobRecord, price: LlmPrice | undefined, clock: Clock) {
    this.#record = record;
    this.#price = price;
    this.#clock = clock;
    record.usage ??= null;
    record.steps ??= {};
    record.costUsd = this.#cost();
  }

  /** Step `step` begins (again, for a resumed job: its first start is kept). */
  started(step: StepName): void {
    const steps = this.#record.steps as StepTimings;
    const now = this.#clock.now();
    const before = steps[step];
    const startedAt = before && before.finishedAt === null ? Date.parse(before.startedAt) : now;
    this.#running.set(step, startedAt);
    steps[step] = {
      startedAt: isoTime(startedAt),
      finishedAt: null,
      durationMs: null,
      attempts: before?.attempts ?? 0,
    };
  }

  /** A request of step `step` ended, with the tokens the server reported for it, if any. */
  attempt(step: StepName, reported: LlmUsage | null): void {
    const timing = this.#timing(step);
    timing.attempts++;
    if (reported === null) return;
    const usage = this.#record.usage ??= {
      promptTokens: 0,
      completionTokens: 0,
      totalTokens: 0,
      byStep: { outline: null, content: null, style: null },
    };
    const byStep: StepUsage = usage.byStep[step] ??= {
      promptTokens: 0,
      completionTokens: 0,
      totalTokens: 0,
      costUsd: null,
    };
    for (const count of [usage, byStep]) {
      count.promptTokens += reported.promptTokens;
      count.completionTokens += reported.completionTokens;
      count.totalTokens += reported.totalTokens;
    }
    byStep.costUsd = costOf(byStep, this.#price);
    this.#record.costUsd = this.#cost();
  }

  /** Step `step` is done (or stopped: see `stopAll`). */
  finished(step: StepName): void {
    const timing = this.#timing(step);
    const now = this.#clock.now();
    const startedAt = this.#running.get(step) ?? Date.parse(timing.startedAt);
    this.#running.delete(step);
    timing.finishedAt = isoTime(now);
    timing.durationMs = Math.max(0, now - startedAt);
  }

  /** Ends the steps still running (the job failed or was cancelled); whether there were any. */
  stopAll(): boolean {
    const open = [...this.#running.keys()];
    for (const step of open) this.finished(step);
    return open.length > 0;
  }

  /** The accounting as it stands, copied, for an event's data. */
  summary(): UsageSummary {
    // Copied by hand: its levels are known and hold only numbers, strings and null, and
    // `structuredClone` cost more than the rest of the accounting (four summaries per job).
    const usage = this.#record.usage ?? null;
    return {
      usage: usage === null ? null : { ...usage, byStep: copyEach(usage.byStep) },
      costUsd: this.#record.costUsd ?? null,
      steps: copyEach(this.#record.steps ?? {}),
    };
  }

  #timing(step: StepName): StepTiming {
    const steps = this.#record.steps as StepTimings;
    if (!steps[step]) this.started(step);
    return steps[step] as StepTiming;
  }

  #cost(): number | null {
    const usage = this.#record.usage;
    if (!usage || this.#price === undefined) return null;
    return costOf(usage, this.#price);
  }
}

/**
 * A copy of `byStep` and of each step's object (whose fields are numbers, strings or null), by
 * the known step names: `Object.entries` and a generic copy cost more than the accounting.
 */
function copyEach<T extends Partial<Record<StepName, object | null>>>(byStep: T): T {
  const copy: Partial<Record<StepName, object | null>> = {};
  for (const step of STEPS) {
    const value = byStep[step];
    if (value !== undefined) copy[step] = value === null ? null : { ...value };
  }
  return copy as T;
}

/**
 * Takes a job's accounting from its log's newest `usage` event into `record`, for a job whose
 * record may be behind its log (a crash of the durable store).
 */
export function restoreUsage(record: JobRecord, events: readonly JobEvent[]): void {
  const last = events.findLast((event) => event.type === "usage");
  if (!last) return;
  const { usage, costUsd, steps } = last.data as Partial<UsageSummary>;
  if (usage !== undefined) record.usage = usage;
  if (costUsd !== undefined) record.costUsd = costUsd;
  if (steps !== undefined) record.steps = steps;
}

function seconds(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "?" : `${(ms / 1_000).toFixed(1)}s`;
}

/**
 * One line on what a job took and cost, for the command line: time per step, tokens, cost, and
 * why a figure is unknown.
 *
 * @example
 * ```ts
 * import { describeUsage } from "./job_usage.ts";
 * import assert from "node:assert/strict";
 *
 * const line = describeUsage({
 *   usage: null,
 *   costUsd: null,
 *   steps: { outline: { startedAt: "", finishedAt: "", durationMs: 1200, attempts: 1 } },
 * }, { provider: "offline", model: null });
 * assert.equal(
 *   line,
 *   "outline 1.2s; 1 LLM request; no tokens (the offline demo writer is not a model)",
 * );
 * ```
 */
export function describeUsage(
  summary: UsageSummary,
  llm: { provider: string; model: string | null },
): string {
  const times = STEPS.flatMap((step) => {
    const timing = summary.steps[step];
    return timing ? [`${step} ${seconds(timing.durationMs)}`] : [];
  });
  const parts = times.length > 0 ? [times.join(", ")] : [];
  const requests = STEPS.reduce((n, step) => n + (summary.steps[step]?.attempts ?? 0), 0);
  if (requests > 0) parts.push(`${requests} LLM request${requests === 1 ? "" : "s"}`);
  const { usage, costUsd } = summary;
  const number = (n: number) => n.toLocaleString("en-US");
  if (llm.provider === "offline") {
    parts.push("no tokens (the offline demo writer is not a model)");
  } else if (usage === null) {
    parts.push("tokens unknown (the LLM server reported none)");
  } else {
    parts.push(
      `${number(usage.totalTokens)} tokens (${number(usage.promptTokens)} prompt, ` +
        `${number(usage.completionTokens)} completion)`,
    );
    parts.push(
      costUsd === null
        ? `cost unknown (no price for ${JSON.stringify(llm.model)} in LLM_PRICES)`
        : `$${costUsd.toFixed(costUsd < 0.01 ? 6 : 4)}`,
    );
  }
  return parts.join("; ");
}
