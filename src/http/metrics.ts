/**
 * Counters and a latency histogram, rendered in the Prometheus text format.
 *
 * @module
 */

import type { LlmCallOptions, LlmClient, LlmRequest, LlmUsage } from "../llm/llm_client.ts";
import { costOf, type LlmPrices } from "../llm/llm_prices.ts";
import type { Reading } from "../core/reading.ts";

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export type { Reading } from "../core/reading.ts";

/** The service's own counters and LLM latency; other readings are passed in at render time. */
export class Metrics {
  /** LLM calls started. */
  llmCalls = 0;
  /** LLM calls that failed (after the provider's own retries). */
  llmErrors = 0;
  /** HTTP requests answered. */
  httpRequests = 0;
  readonly #latency = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  #latencySum = 0;
  #latencyCount = 0;
  /** Tokens by model: prompt and completion. */
  readonly #tokens = new Map<string, { prompt: number; completion: number }>();
  /** US dollars by model, for models with a price. */
  readonly #cost = new Map<string, number>();

  /**
   * Counts the tokens of one request to `model` and, when it has a price, their cost. With
   * `usage` `null` it only makes the model's series exist (at zero), so they show from the start.
   */
  countTokens(model: string, usage: LlmUsage | null, cost: number | null): void {
    const tokens = this.#tokens.get(model) ?? { prompt: 0, completion: 0 };
    this.#tokens.set(model, tokens);
    if (cost !== null || (usage === null && this.#cost.has(model))) {
      this.#cost.set(model, (this.#cost.get(model) ?? 0) + (cost ?? 0));
    }
    if (usage === null) return;
    tokens.prompt += usage.promptTokens;
    tokens.completion += usage.completionTokens;
  }

  /** Records one LLM call's duration in seconds. */
  observeLlmLatency(seconds: number): void {
    let i = LATENCY_BUCKETS.findIndex((b) => seconds <= b);
    if (i === -1) i = LATENCY_BUCKETS.length;
    this.#latency[i] = (this.#latency[i] ?? 0) + 1;
    this.#latencySum += seconds;
    this.#latencyCount++;
  }

  /**
   * The Prometheus exposition text, with the `readings` taken elsewhere (name → type, help and
   * value by labels) added. A counter's name must end in `_total`, a gauge's must not.
   *
   * @example
   * ```ts
   * import { Metrics } from "./metrics.ts";
   * import assert from "node:assert/strict";
   *
   * const metrics = new Metrics();
   * metrics.llmCalls = 2;
   * const text = metrics.render({
   *   demo_items_total: { type: "counter", help: "Items.", values: [["", 3]] },
   * });
   * assert.match(text, /^quillflow_llm_calls_total 2$/m);
   * assert.match(text, /^# TYPE demo_items_total counter$/m);
   * ```
   */
  render(readings: Record<string, Reading>): string {
    const lines: string[] = [];
    const counter = (name: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
    for (const [name, reading] of Object.entries(readings)) {
      if ((reading.type === "counter") !== name.endsWith("_total")) {
        throw new TypeError(
          `Cannot render metric ${name}: a counter's name ends in _total and only a counter's does`,
        );
      }
      lines.push(`# HELP ${name} ${reading.help}`, `# TYPE ${name} ${reading.type}`);
      for (const [labels, value] of reading.values) lines.push(`${name}${labels} ${value}`);
    }
    counter("quillflow_llm_calls_total", "LLM calls started.", this.llmCalls);
    counter("quillflow_llm_errors_total", "LLM calls that failed.", this.llmErrors);
    counter("quillflow_http_requests_total", "HTTP requests answered.", this.httpRequests);
    // A family shows once it has a series: the offline writer is not a model, and has none.
    const tokens = "quillflow_llm_tokens_total";
    if (this.#tokens.size > 0) {
      lines.push(
        `# HELP ${tokens} Tokens the LLM server reported, by model and kind (prompt or completion).`,
        `# TYPE ${tokens} counter`,
      );
    }
    for (const [model, { prompt, completion }] of this.#tokens) {
      lines.push(`${tokens}{model="${escapeLabel(model)}",kind="prompt"} ${prompt}`);
      lines.push(`${tokens}{model="${escapeLabel(model)}",kind="completion"} ${completion}`);
    }
    const cost = "quillflow_llm_cost_usd_total";
    if (this.#cost.size > 0) {
      lines.push(
        `# HELP ${cost} What those tokens cost in US dollars, by model, for models with a price in LLM_PRICES.`,
        `# TYPE ${cost} counter`,
      );
    }
    for (const [model, dollars] of this.#cost) {
      lines.push(`${cost}{model="${escapeLabel(model)}"} ${Math.round(dollars * 1e8) / 1e8}`);
    }
    const h = "quillflow_llm_latency_seconds";
    lines.push(`# HELP ${h} LLM call duration.`, `# TYPE ${h} histogram`);
    let cumulative = 0;
    LATENCY_BUCKETS.forEach((bound, i) => {
      cumulative += this.#latency[i] ?? 0;
      lines.push(`${h}_bucket{le="${bound}"} ${cumulative}`);
    });
    lines.push(`${h}_bucket{le="+Inf"} ${this.#latencyCount}`);
    lines.push(`${h}_sum ${this.#latencySum}`, `${h}_count ${this.#latencyCount}`);
    return lines.join("\n") + "\n";
  }
}

/** A Prometheus label value: backslash, double quote and line feed escaped. */
function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/**
 * Wraps `llm` so every call is counted and timed in `metrics`, and every request's tokens (and
 * their cost at `prices`) counted under its model.
 */
export function instrumentLlm(
  llm: LlmClient,
  metrics: Metrics,
  prices: LlmPrices = {},
): LlmClient {
  // The offline writer is not a model and reports no tokens: it has no series.
  const model = llm.model;
  const price = model === null ? undefined : prices[model];
  if (model !== null) metrics.countTokens(model, null, price === undefined ? null : 0);
  return {
    provider: llm.provider,
    model: llm.model,
    async complete(request: LlmRequest, options?: LlmCallOptions): Promise<string> {
      metrics.llmCalls++;
      const start = performance.now();
      const counted: LlmCallOptions | undefined = model === null ? options : {
        ...options,
        onAttempt: (usage) => {
          if (usage !== null) metrics.countTokens(model, usage, costOf(usage, price));
          options?.onAttempt?.(usage);
        },
      };
      try {
        return await llm.complete(request, counted);
      } catch (error) {
        if (!options?.signal?.aborted) metrics.llmErrors++;
        throw error;
      } finally {
        metrics.observeLlmLatency((performance.now() - start) / 1000);
      }
    },
  };
}
