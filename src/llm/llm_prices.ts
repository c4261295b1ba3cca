/**
 * What tokens cost: `LLM_PRICES`, a JSON object of model name to input and output price in US
 * dollars per million tokens, and the cost of a count of tokens at such a price. A model that is
 * not listed has no price: its cost is unknown (`null`), never guessed from a similar name.
 *
 * @module
 */

import type { LlmUsage } from "./llm_client.ts";

/** The price of a model's tokens, in US dollars per million. */
export interface LlmPrice {
  /** Per million prompt (input) tokens. */
  input: number;
  /** Per million completion (output) tokens. */
  output: number;
}

/** Prices by model name, as the model is named in `LLM_MODEL`. */
export type LlmPrices = Readonly<Record<string, LlmPrice>>;

/**
 * Reads `LLM_PRICES`. Throws a `TypeError` that says what is wrong.
 *
 * @example
 * ```ts
 * import { parseLlmPrices } from "./llm_prices.ts";
 * import assert from "node:assert/strict";
 *
 * const prices = parseLlmPrices('{"gpt-4o-mini": {"input": 0.15, "output": 0.6}}');
 * assert.deepEqual(prices["gpt-4o-mini"], { input: 0.15, output: 0.6 });
 * assert.throws(() => parseLlmPrices('{"m": {"input": -1, "output": 1}}'), TypeError);
 * ```
 */
export function parseLlmPrices(raw: string, name = "LLM_PRICES"): LlmPrices {
  const example = `${name} must be JSON such as {"gpt-4o-mini": {"input": 0.15, "output": 0.6}} ` +
    "(US dollars per million tokens)";
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new TypeError(`${example}: it is not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TypeError(`${example}: current value is ${JSON.stringify(raw.slice(0, 60))}`);
  }
  const prices: Record<string, LlmPrice> = {};
  for (const [model, price] of Object.entries(parsed)) {
    const { input, output } = (typeof price === "object" && price !== null ? price : {}) as Record<
      string,
      unknown
    >;
    const valid = (value: unknown) =>
      typeof value === "number" && Number.isFinite(value) && value >= 0;
    if (!valid(input) || !valid(output)) {
      throw new TypeError(
        `${example}: the price of ${JSON.stringify(model)} needs "input" and "output", each a ` +
          `number of at least 0: current value is ${JSON.stringify(price)}`,
      );
    }
    prices[model] = { input: input as number, output: output as number };
  }
  return prices;
}

/**
 * The cost in US dollars of `usage` at `price`; `null` when either is unknown.
 *
 * @example
 * ```ts
 * import { costOf } from "./llm_prices.ts";
 * import assert from "node:assert/strict";
 *
 * const usage = { promptTokens: 1_000_000, completionTokens: 500_000, totalTokens: 1_500_000 };
 * assert.equal(costOf(usage, { input: 0.15, output: 0.6 }), 0.45);
 * assert.equal(costOf(usage, undefined), null);
 * ```
 */
export function costOf(
  usage: Pick<LlmUsage, "promptTokens" | "completionTokens"> | null,
  price: LlmPrice | undefined,
): number | null {
  if (usage === null || price === undefined) return null;
  // Rounded to a millionth of a cent: sums of binary fractions would otherwise show 0.4500000001.
  const dollars = (usage.promptTokens * price.input + usage.completionTokens * price.output) / 1e6;
  return Math.round(dollars * 1e8) / 1e8;
}
