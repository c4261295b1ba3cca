/**
 * What to tell a user whose LLM call failed every attempt: what went wrong each time, the last
 * error as the SDK or Deno put it, and which setting or system to look at. A job's failure reason
 * is this text; "error reading a body from connection" alone gives nobody anything to act on.
 *
 * @module
 */

import OpenAI from "openai";
import { StreamCutError } from "./chat_completion_reader.ts";
import { describeError } from "../core/describe_error.ts";

type Kind = "cut" | "timeout" | "connect" | "rate" | "server" | "other";

function kindOf(error: unknown): Kind {
  if (error instanceof StreamCutError) return "cut";
  if (error instanceof DOMException && error.name === "TimeoutError") return "timeout";
  if (error instanceof OpenAI.APIConnectionTimeoutError) return "timeout";
  if (error instanceof OpenAI.APIConnectionError) return "connect";
  if (error instanceof OpenAI.APIError) return error.status === 429 ? "rate" : "server";
  return "other";
}

function what(kind: Kind, error: unknown): string {
  switch (kind) {
    case "cut":
      return "the connection closed mid-answer";
    case "timeout":
      return "no answer in time";
    case "connect":
      return "could not connect";
    case "rate":
      return "rate limited (429)";
    case "server":
      return `HTTP ${(error as InstanceType<typeof OpenAI.APIError>).status ?? "error"}`;
    case "other":
      return error instanceof Error ? error.name : "error";
  }
}

const ADVICE: Record<Kind, string> = {
  cut: "Check the LLM server's logs and any proxy in front of it (restarts, response or idle " +
    "timeouts), or raise LLM_MAX_ATTEMPTS.",
  timeout: "The LLM server may be overloaded: raise LLM_TIMEOUT_MS, lower MAX_CONCURRENT_JOBS, " +
    "or raise LLM_MAX_ATTEMPTS.",
  connect: "Check OPENAI_BASE_URL and that the LLM server is up.",
  rate: "Lower MAX_CONCURRENT_JOBS or raise the account's rate limit.",
  server: "The LLM server is failing: check its status and logs, or raise LLM_MAX_ATTEMPTS.",
  other: "Check the LLM server and the settings above.",
};

/**
 * The reason to give when every attempt of an LLM call failed: `errors` holds each attempt's
 * error in order, `limitName` the setting that bounds them.
 *
 * @example
 * ```ts
 * import { explainLlmFailure } from "./llm_failure.ts";
 * import { StreamCutError } from "./chat_completion_reader.ts";
 * import assert from "node:assert/strict";
 *
 * const cut = () =>
 *   new StreamCutError(57, { cause: new TypeError("error reading a body from connection") });
 * const reason = explainLlmFailure([cut(), cut()], "LLM_MAX_ATTEMPTS");
 * assert.match(reason, /^The LLM call failed 2 times \(LLM_MAX_ATTEMPTS\): 2× the connection/);
 * assert.match(reason, /broke off after 57 characters: error reading a body from connection/);
 * ```
 */
export function explainLlmFailure(errors: readonly unknown[], limitName: string): string {
  const counts = new Map<string, number>();
  for (const error of errors) {
    const label = what(kindOf(error), error);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const tally = [...counts].map(([label, n]) => `${n}× ${label}`).join(", ");
  const last = errors.at(-1);
  // The SDK ends some messages with a period ("Connection error."): not doubled here.
  return `The LLM call failed ${errors.length} times (${limitName}): ${tally}. Last error: ${
    describeError(last).replace(/\.$/, "")
  }. ${ADVICE[kindOf(last)]}`;
}
