/**
 * Scenario 5, a bad LLM: the `openai` provider against a loopback OpenAI-compatible server that
 * answers 500 to some calls, cuts some streams midway and never answers some. Every job must
 * complete within its retry budget or fail with a reason that says what happened; none may be
 * left running.
 *
 * @module
 */

import { type FaultRates, faultyLlm } from "../../testing/llm_faults.ts";
import { startOpenAiServer } from "../../testing/openai_server.ts";
import { Ledger } from "./ledger.ts";
import { runLanes } from "./load_lanes.ts";
import { rowFromLedger, type ScenarioRow } from "./scenario_row.ts";
import { ServiceChild } from "./service_child.ts";
import { seconds } from "./timing.ts";

/** Options for {@linkcode badLlm}. */
export interface BadLlmOptions {
  /** The data directory of the service (SQLite store). */
  dataDir: string;
  /** Jobs to run. */
  jobs: number;
  /** Clients at once. */
  lanes: number;
  /** Fault shares. */
  rates: FaultRates;
  /** `LLM_MAX_ATTEMPTS`. */
  maxAttempts: number;
  /** `LLM_TIMEOUT_MS`. */
  timeoutMs: number;
  /** `MAX_CONCURRENT_JOBS`. */
  maxConcurrentJobs: number;
  /** Time of a good answer, in ms. Default 50. */
  answerMs?: number;
  /** Seed of the fault rolls. Default 1. */
  seed?: number;
  /** Everything must be over by this many ms. Default 240 000. */
  budgetMs?: number;
}

/** A reason names the attempts and what went wrong in each, then the last error. */
const CLEAR_REASON = /The LLM call failed \d+ times \(LLM_MAX_ATTEMPTS\): .+\. Last error: /;

/** Runs scenario 5; resolves with its row. */
export async function badLlm(options: BadLlmOptions): Promise<ScenarioRow> {
  const deadline = performance.now() + (options.budgetMs ?? 240_000);
  const faults = faultyLlm(options.rates, options.seed ?? 1);
  const llm = await startOpenAiServer({ delayMs: options.answerMs ?? 50, script: faults.script });
  const service = await ServiceChild.start({
    name: "bad-LLM service",
    args: [
      "--store",
      "sqlite",
      "--data-dir",
      options.dataDir,
      "--llm-provider",
      "openai",
      "--openai-base-url",
      llm.baseUrl,
      "--openai-api-key",
      "chaos",
      "--llm-max-attempts",
      String(options.maxAttempts),
      "--llm-timeout-ms",
      String(options.timeoutMs),
      "--max-concurrent-jobs",
      String(options.maxConcurrentJobs),
      "--max-queued-jobs",
      "100000",
      "--log-level",
      "error",
    ],
  });
  const ledger = new Ledger();
  try {
    const streams = await runLanes({
      ledger,
      jobs: options.jobs,
      lanes: options.lanes,
      submitUrl: () => service.url,
      watchUrl: () => service.url,
      deadline,
    });
    await ledger.settle(() => service.url, deadline);
    const reasons = [...ledger.outcomes.values()].flatMap((o) =>
      o.status === "failed" ? [o.reason] : []
    );
    const unclear = reasons.filter((r) => !CLEAR_REASON.test(r));
    const longest = Math.max(0, ...streams.map((s) => s.elapsedMs));
    const { ok, error, cut, hang } = faults.injected;
    return rowFromLedger("5 bad LLM", ledger, {
      recovery: `longest job ${seconds(longest)}`,
      checks: [{
        what: "every failed job says what happened and what to change",
        ok: unclear.length === 0,
        detail: unclear.length === 0
          ? `${reasons.length} failed, every reason clear`
          : `unclear: ${JSON.stringify(unclear[0])}`,
      }],
      notes: [
        `LLM calls: ${llm.requests.length}; answered ${ok}, 500 ${error}, cut ${cut}, hung ${hang}`,
      ],
    });
  } finally {
    await service.kill("SIGKILL");
    await llm.close();
  }
}
