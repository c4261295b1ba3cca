/**
 * A bad LLM for {@linkcode startOpenAiServer}: a script that answers some requests with a 500,
 * cuts some streams midway and never answers some, at random with given rates (seeded, so a run
 * can be repeated), and counts what it did.
 *
 * @module
 */

import { defaultAnswer, type RecordedRequest, type ScriptedReply } from "./openai_server.ts";

/** Shares of requests, 0 to 1, that get each fault; the rest are answered normally. */
export interface FaultRates {
  /** Answered `500`. */
  error: number;
  /** Streamed, then the connection dropped after a random part of the answer. */
  cut: number;
  /** Headers (for a stream) and then nothing, or nothing at all. */
  hang: number;
}

/** A fault script and what it has done so far. */
export interface FaultyLlm {
  /** The `script` option of `startOpenAiServer`. */
  script: (request: RecordedRequest, n: number) => ScriptedReply;
  /** Requests answered each way so far. */
  readonly injected: { ok: number; error: number; cut: number; hang: number };
}

/** A small fast PRNG (mulberry32), so a seed repeats a run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A script that fails requests at `rates`.
 *
 * @example
 * ```ts
 * import { faultyLlm } from "./llm_faults.ts";
 * import assert from "node:assert/strict";
 *
 * const llm = faultyLlm({ error: 0.2, cut: 0.1, hang: 0.05 }, 7);
 * const request = { body: {}, prompt: "hi", aborted: false, completed: false };
 * for (let n = 0; n < 1_000; n++) llm.script(request, n);
 * assert.ok(llm.injected.error > 150 && llm.injected.error < 250);
 * assert.equal(Object.values(llm.injected).reduce((a, b) => a + b), 1_000);
 * ```
 */
export function faultyLlm(rates: FaultRates, seed = 1): FaultyLlm {
  const next = random(seed);
  const injected = { ok: 0, error: 0, cut: 0, hang: 0 };
  return {
    injected,
    script(request) {
      const roll = next();
      if (roll < rates.error) {
        injected.error++;
        return { status: 500, message: "injected fault: internal error" };
      }
      if (roll < rates.error + rates.cut) {
        injected.cut++;
        const content = defaultAnswer(request.prompt);
        const pieces = content.match(/\S+\s*|\s+/g)?.length ?? 1;
        return { content, cutAfter: 1 + Math.floor(next() * Math.max(1, pieces - 1)) };
      }
      if (roll < rates.error + rates.cut + rates.hang) {
        injected.hang++;
        return { hang: true };
      }
      injected.ok++;
      return undefined;
    },
  };
}
