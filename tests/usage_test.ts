/**
 * Tokens, cost and time per job, against the loopback OpenAI-compatible server: the job's usage
 * is the sum of what the server reported, retries included; the cost comes from LLM_PRICES and is
 * `null` where unknown; a server that counts nothing gives `usage: null`.
 */

import assert from "node:assert/strict";
import { loadConfig } from "../src/config.ts";
import { runGenerate } from "../src/cli.ts";
import type { JobRecord } from "../src/core/job.ts";
import { OpenAiClient } from "../src/llm/openai_client.ts";
import { restoreFromLog } from "../src/jobs/log_checkpoint.ts";
import { UsageMeter } from "../src/jobs/job_usage.ts";
import { type RecordedRequest, startOpenAiServer } from "../testing/openai_server.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer, submit } from "./_server.ts";

const MODEL = "test-model";
const PRICE = { input: 0.15, output: 0.6 };

type Count = { promptTokens: number; completionTokens: number; totalTokens: number };

function stepOf(request: RecordedRequest): "outline" | "content" | "style" {
  if (request.prompt.includes("Create a simple outline")) return "outline";
  if (request.prompt.includes("Write a short paragraph")) return "content";
  return "style";
}

/** What the server reported, summed, in total and by step. */
function reported(requests: readonly RecordedRequest[]) {
  const zero = (): Count => ({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  const total = zero();
  const byStep = { outline: zero(), content: zero(), style: zero() };
  const attempts = { outline: 0, content: 0, style: 0 };
  for (const request of requests) {
    attempts[stepOf(request)]++;
    if (!request.usage) continue;
    for (const count of [total, byStep[stepOf(request)]]) {
      count.promptTokens += request.usage.prompt_tokens;
      count.completionTokens += request.usage.completion_tokens;
      count.totalTokens += request.usage.total_tokens;
    }
  }
  return { total, byStep, attempts };
}

const dollars = (count: Count) =>
  (count.promptTokens * PRICE.input + count.completionTokens * PRICE.output) / 1e6;

function near(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, "number", what);
  assert.ok(Math.abs((actual as number) - expected) < 1e-7, `${what}: ${actual} vs ${expected}`);
}

function openaiFlags(baseUrl: string, prices?: Record<string, unknown>): string[] {
  return [
    "--store",
    "memory",
    "--llm-provider",
    "openai",
    "--openai-base-url",
    baseUrl,
    "--llm-model",
    MODEL,
    "--llm-max-attempts",
    "3",
    ...(prices ? ["--llm-prices", JSON.stringify(prices)] : []),
  ];
}

async function runJob(base: string, topic: string) {
  const job = await submit(base, topic);
  const events = await collectEvents(`${base}/api/jobs/${job.id}/events`);
  const snapshot = await (await fetch(`${base}/api/jobs/${job.id}`)).json();
  return { events, snapshot };
}

Deno.test("a job's usage is the sum of what the server reported, retries included, priced by LLM_PRICES", async () => {
  // Outline: a 500 (no usage), then an answer that is no outline (paid for, asked again), then a
  // good one. One section: a 503 first. Every answer that arrives reports its tokens.
  let failedSection = false;
  const llm = await startOpenAiServer({
    script: (request, n) => {
      if (n === 0) return { status: 500 };
      if (n === 1) return { content: "I would rather not write an outline today." };
      if (!failedSection && stepOf(request) === "content") {
        failedSection = true;
        return { status: 503 };
      }
      return undefined;
    },
  });
  const server = await startTestServer(openaiFlags(llm.baseUrl, { [MODEL]: PRICE }));
  try {
    const { events, snapshot } = await runJob(server.url, "Counting tokens");
    assert.equal(events.at(-1)?.event, "complete");
    const sum = reported(llm.requests);
    assert.deepEqual(sum.attempts, { outline: 3, content: 4, style: 1 });
    // Every request that answered reported usage; the two errors did not.
    assert.equal(llm.requests.filter((r) => r.usage).length, 6);
    // Streamed requests asked for it.
    assert.ok(llm.requests.every((r) => r.body.stream_options?.include_usage === true));

    const { usage, costUsd, steps } = snapshot;
    assert.deepEqual(
      { ...usage, byStep: undefined },
      { ...sum.total, byStep: undefined },
      "totals",
    );
    for (const step of ["outline", "content", "style"] as const) {
      const { costUsd: stepCost, ...tokens } = usage.byStep[step];
      assert.deepEqual(tokens, sum.byStep[step], step);
      near(stepCost, dollars(sum.byStep[step]), `${step} cost`);
      assert.equal(steps[step].attempts, sum.attempts[step], `${step} attempts`);
      assert.ok(steps[step].durationMs >= 0);
      assert.ok(Date.parse(steps[step].finishedAt) >= Date.parse(steps[step].startedAt));
    }
    near(costUsd, dollars(sum.total), "job cost");

    // A `usage` event as each step finishes, and the same figures in `complete`.
    const usageEvents = events.filter((e) => e.event === "usage").map((e) => JSON.parse(e.data));
    assert.deepEqual(usageEvents.map((e) => e.step), ["outline", "content", "style"]);
    assert.equal(usageEvents[0].usage.byStep.content, null, "content had not run yet");
    const complete = JSON.parse(events.at(-1)!.data);
    assert.deepEqual(
      { usage: complete.usage, costUsd: complete.costUsd, steps: complete.steps },
      { usage, costUsd, steps },
    );
    assert.deepEqual(usageEvents.at(-1).usage, usage);

    // /metrics counts the same tokens and cost under the model.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1]);
    assert.equal(
      value(/^quillflow_llm_tokens_total\{model="test-model",kind="prompt"\} (\S+)$/m),
      sum.total.promptTokens,
    );
    assert.equal(
      value(/^quillflow_llm_tokens_total\{model="test-model",kind="completion"\} (\S+)$/m),
      sum.total.completionTokens,
    );
    near(
      value(/^quillflow_llm_cost_usd_total\{model="test-model"\} (\S+)$/m),
      dollars(sum.total),
      "metrics cost",
    );
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("a failed job still says what it used: a usage event just before its error", async () => {
  // Every section request fails: the job fails in the content step, its outline paid for.
  const llm = await startOpenAiServer({
    script: (request) => stepOf(request) === "content" ? { status: 500 } : undefined,
  });
  const server = await startTestServer([
    ...openaiFlags(llm.baseUrl, { [MODEL]: PRICE }),
    "--llm-max-attempts",
    "1",
  ]);
  try {
    const { events, snapshot } = await runJob(server.url, "Doomed sections");
    assert.equal(snapshot.status, "failed");
    const [beforeLast, last] = events.slice(-2);
    assert.equal(last?.event, "error");
    assert.equal(beforeLast?.event, "usage");
    const final = JSON.parse(beforeLast!.data);
    assert.equal(final.step, "content");
    assert.deepEqual(final.usage, snapshot.usage);
    const sum = reported(llm.requests);
    assert.deepEqual(snapshot.usage.byStep.outline, {
      ...sum.byStep.outline,
      costUsd: snapshot.usage.byStep.outline.costUsd,
    });
    assert.equal(snapshot.usage.byStep.content, null, "failed requests reported nothing");
    near(snapshot.costUsd, dollars(sum.total), "cost of the failed job");
    assert.equal(snapshot.steps.content.attempts, sum.attempts.content);
    assert.ok(snapshot.steps.content.finishedAt !== null, "the failed step is closed");
    assert.equal(snapshot.steps.style, undefined, "style never started");
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("cost is null for a model LLM_PRICES does not list, never guessed", async () => {
  const llm = await startOpenAiServer();
  // A price for a similar name is not this model's price.
  const server = await startTestServer(
    openaiFlags(llm.baseUrl, { "test-model-mini": PRICE, "test": PRICE }),
  );
  try {
    const { snapshot } = await runJob(server.url, "Unpriced");
    assert.equal(snapshot.usage.totalTokens, reported(llm.requests).total.totalTokens);
    assert.equal(snapshot.costUsd, null);
    for (const step of ["outline", "content", "style"]) {
      assert.equal(snapshot.usage.byStep[step].costUsd, null);
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /^quillflow_llm_cost_usd_total\{/m);
    assert.match(metrics, /^quillflow_llm_tokens_total\{model="test-model",kind="prompt"\} [1-9]/m);
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("a server that reports no usage gives usage: null and cost: null, with times and attempts", async () => {
  const llm = await startOpenAiServer({ usage: false });
  const server = await startTestServer(openaiFlags(llm.baseUrl, { [MODEL]: PRICE }));
  try {
    const { events, snapshot } = await runJob(server.url, "Uncounted");
    assert.equal(events.at(-1)?.event, "complete");
    assert.equal(snapshot.usage, null);
    assert.equal(snapshot.costUsd, null);
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(snapshot.steps).map((
          [step, t],
        ) => [step, (t as { attempts: number }).attempts]),
      ),
      { outline: 1, content: 3, style: 1 },
    );
    assert.equal(JSON.parse(events.at(-1)!.data).usage, null);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^quillflow_llm_tokens_total\{model="test-model",kind="prompt"\} 0$/m);
    assert.match(metrics, /^quillflow_llm_cost_usd_total\{model="test-model"\} 0$/m);
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("a server that refuses stream_options is asked again without it, once and for all", async () => {
  const llm = await startOpenAiServer({
    script: (request) =>
      request.body.stream_options
        ? { status: 400, message: "Unrecognized request argument supplied: stream_options" }
        : undefined,
  });
  const server = await startTestServer(openaiFlags(llm.baseUrl));
  try {
    const { events, snapshot } = await runJob(server.url, "Old server");
    assert.equal(events.at(-1)?.event, "complete");
    assert.equal(snapshot.usage, null);
    // One refusal, then five plain requests.
    assert.deepEqual(llm.requests.map((r) => Boolean(r.body.stream_options)), [
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("a call that is not streamed reads usage from the answer", async () => {
  const llm = await startOpenAiServer();
  try {
    const client = new OpenAiClient({ apiKey: "x", baseURL: llm.baseUrl, model: MODEL });
    const seen: unknown[] = [];
    await client.complete(
      { purpose: "style", system: "s", prompt: "Rewrite the draft please", input: {} },
      { onAttempt: (usage) => seen.push(usage) },
    );
    const sent = llm.requests[0]?.usage;
    assert.ok(sent);
    assert.deepEqual(seen, [{
      promptTokens: sent.prompt_tokens,
      completionTokens: sent.completion_tokens,
      totalTokens: sent.total_tokens,
    }]);
  } finally {
    await llm.close();
  }
});

Deno.test("the offline writer reports no tokens: usage null, each step timed", async () => {
  const server = await startTestServer(["--store", "memory", "--offline-delay-ms", "20"]);
  try {
    const { events, snapshot } = await runJob(server.url, "Offline");
    assert.equal(snapshot.usage, null);
    assert.equal(snapshot.costUsd, null);
    for (const step of ["outline", "content", "style"]) {
      assert.ok(snapshot.steps[step].durationMs >= 0, step);
    }
    assert.equal(snapshot.steps.content.attempts, 3);
    assert.equal(events.filter((e) => e.event === "usage").length, 3);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /^quillflow_llm_tokens_total\{/m);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the CLI's last line says time per step, tokens and cost", async (t) => {
  const generate = async (flags: string[], server?: string) => {
    const { config } = loadConfig(() => undefined, [
      "--log-level",
      "silent",
      "--offline-delay-ms",
      "0",
      ...flags,
    ]);
    const lines: string[] = [];
    const code = await runGenerate(config, {
      topic: "Tea",
      stdout: () => Promise.resolve(),
      stderr: (text) => void lines.push(...text.split("\n").filter((line) => line !== "")),
      tty: false,
      signal: new AbortController().signal,
      ...(server ? { server } : {}),
    });
    return { code, last: lines.at(-1) ?? "" };
  };
  const llm = await startOpenAiServer();
  try {
    await t.step("priced model", async () => {
      const { code, last } = await generate(openaiFlags(llm.baseUrl, { [MODEL]: PRICE }));
      assert.equal(code, 0);
      const total = reported(llm.requests).total;
      assert.match(
        last,
        /^quillflow: outline \d+\.\ds, content \d+\.\ds, style \d+\.\ds; 5 LLM requests; /,
      );
      assert.match(last, new RegExp(`${total.totalTokens.toLocaleString("en-US")} tokens`));
      assert.match(last, /\$0\.\d{6}$/);
    });
    await t.step("offline writer", async () => {
      const { code, last } = await generate([]);
      assert.equal(code, 0);
      assert.match(last, /no tokens \(the offline demo writer is not a model\)$/);
    });
    await t.step("--server: the service's job, its figures", async () => {
      const server = await startTestServer(openaiFlags(llm.baseUrl, { [MODEL]: PRICE }));
      try {
        const before = llm.requests.length;
        const { code, last } = await generate([], server.url);
        assert.equal(code, 0);
        const total = reported(llm.requests.slice(before)).total;
        assert.match(
          last,
          new RegExp(
            `; 5 LLM requests; ${
              total.totalTokens.toLocaleString("en-US")
            } tokens .*\\$0\\.\\d{6}$`,
          ),
        );
      } finally {
        await server.shutdown();
      }
    });
  } finally {
    await llm.close();
  }
});

Deno.test("LLM_PRICES is validated at start, naming the setting", () => {
  for (
    const bad of [
      "nope",
      "[1]",
      '{"m": 3}',
      '{"m": {"input": 1}}',
      '{"m": {"input": -1, "output": 1}}',
    ]
  ) {
    assert.throws(
      () => loadConfig((name) => name === "LLM_PRICES" ? bad : undefined),
      (error: Error) =>
        error instanceof TypeError && /^LLM_PRICES must be JSON/.test(error.message),
      bad,
    );
  }
  const { config } = loadConfig(() => undefined, [
    "--llm-prices",
    '{"m": {"input": 1, "output": 2}}',
  ]);
  assert.deepEqual(config.llmPrices, { m: { input: 1, output: 2 } });
});

Deno.test("a recovering job takes its accounting from the newest usage event of its log", () => {
  const record: JobRecord = {
    id: "a",
    topic: "tea",
    status: "running",
    progress: 0,
    step: null,
    provider: "openai",
    model: MODEL,
    createdAt: 0,
    lastEventId: 2,
  };
  const usage = {
    promptTokens: 10,
    completionTokens: 5,
    totalTokens: 15,
    byStep: {
      outline: { promptTokens: 10, completionTokens: 5, totalTokens: 15, costUsd: null },
      content: null,
      style: null,
    },
  };
  const steps = {
    outline: { startedAt: "x", finishedAt: "y", durationMs: 5, attempts: 2 },
  };
  restoreFromLog(record, [
    { id: 1, type: "status", data: { status: "running", progress: 0 } },
    { id: 2, type: "progress", data: { step: "outline", progress: 33, sections: ["A"] } },
    { id: 3, type: "usage", data: { step: "outline", usage, costUsd: null, steps } },
  ]);
  assert.deepEqual(record.usage, usage);
  assert.deepEqual(record.steps, steps);
  assert.equal(record.step, "outline");
});

Deno.test("a usage summary is a copy: what the job does later does not change an event sent before", () => {
  const record: JobRecord = {
    id: "a",
    topic: "tea",
    status: "running",
    progress: 0,
    step: null,
    provider: "openai",
    model: "m",
    createdAt: 0,
    lastEventId: 1,
  };
  let now = 1_000;
  const meter = new UsageMeter(record, { input: 1, output: 2 }, { now: () => now });
  meter.started("outline");
  meter.attempt("outline", { promptTokens: 10, completionTokens: 5, totalTokens: 15 });
  const before = meter.summary();
  const sent = structuredClone(before);
  now = 1_500;
  meter.attempt("outline", { promptTokens: 1, completionTokens: 1, totalTokens: 2 });
  meter.finished("outline");
  meter.started("content");
  assert.deepEqual(before, sent);
  assert.equal(meter.summary().usage?.byStep.outline?.totalTokens, 17);
});
