import assert from "node:assert/strict";
import { promptData, startOpenAiServer } from "../testing/openai_server.ts";
import {
  arbitraryTitles,
  arbitraryTopic,
  modelOutline,
  normalizeTitle,
  propertySeed,
  Random,
} from "./_arbitrary_text.ts";
import { startTestServer } from "./_server.ts";

/** Jobs per property; each is submitted and followed over HTTP to its end. */
const CASES = 250;
/** Cases in flight at once: fewer than the queue holds, so none is refused. */
const IN_FLIGHT = 8;

interface Case {
  n: number;
  topic: string;
  /** How the topic is sent: JSON to the native route, or a form to either route. */
  as: "json" | "form" | "compat-form";
  /** The titles the model answers with (openai provider only). */
  titles?: string[];
  /** The model's reply holding them. */
  outline?: string;
}

/** Submits the case's topic and returns the job id. */
async function submitCase(base: string, c: Case): Promise<string> {
  const form = c.as !== "json";
  const response = await fetch(`${base}${c.as === "compat-form" ? "/start-job" : "/api/jobs"}`, {
    method: "POST",
    ...(form ? { body: new URLSearchParams({ topic: c.topic }) } : {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: c.topic }),
    }),
  });
  const body = await response.json();
  assert.equal(response.status, c.as === "compat-form" ? 200 : 202, JSON.stringify(body));
  return c.as === "compat-form" ? body.job_id : body.id;
}

/** Follows the job's event stream to its end, then returns its snapshot. */
async function finish(base: string, id: string): Promise<Record<string, unknown>> {
  // The stream ends after the job's last event; the timeout only turns a hang into a failure.
  const events = await fetch(`${base}/api/jobs/${id}/events`, {
    signal: AbortSignal.timeout(120_000),
  });
  assert.equal(events.status, 200);
  await events.text();
  return await (await fetch(`${base}/api/jobs/${id}`)).json();
}

/**
 * Runs every case, `IN_FLIGHT` at a time, through `check`; the first failure names the seed to
 * replay it with and the case.
 */
async function runCases(
  seed: number,
  cases: Case[],
  check: (c: Case) => Promise<void>,
): Promise<void> {
  let next = 0;
  const failures: string[] = [];
  const worker = async () => {
    while (next < cases.length && failures.length === 0) {
      const c = cases[next++] as Case;
      try {
        await check(c);
      } catch (error) {
        failures.push(
          `case ${c.n} of seed ${seed} (replay with PROPERTY_SEED=${seed}): ${JSON.stringify(c)}\n${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  assert.deepEqual(failures, []);
}

/** `CASES` cases, their topics different once trimmed, since the test LLM finds a case by it. */
function generateCases(r: Random, withOutline: boolean): Case[] {
  const cases: Case[] = [];
  const topics = new Set<string>();
  while (cases.length < CASES) {
    const topic = arbitraryTopic(r);
    if (topics.has(topic.trim())) continue;
    topics.add(topic.trim());
    const titles = withOutline ? arbitraryTitles(r) : undefined;
    cases.push({
      n: cases.length,
      topic,
      as: r.pick(["json", "json", "form", "compat-form"] as const),
      ...(titles ? { titles, outline: modelOutline(r, titles) } : {}),
    });
  }
  return cases;
}

Deno.test("property: any topic completes with the offline writer, over HTTP", async () => {
  const seed = propertySeed();
  const cases = generateCases(new Random(seed), false);
  const server = await startTestServer(["--store", "memory"]);
  try {
    await runCases(seed, cases, async (c) => {
      const job = await finish(server.url, await submitCase(server.url, c));
      assert.equal(job.status, "completed", String(job.error));
      assert.equal(job.topic, c.topic.trim(), "the topic arrives unchanged");
      assert.equal((job.sections as string[]).length, 3);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("property: any topic and outline titles complete through the openai provider", async () => {
  const seed = propertySeed();
  const cases = generateCases(new Random(seed), true);
  const byTopic = new Map(cases.map((c) => [c.topic.trim(), c]));
  const llm = await startOpenAiServer({
    script: (request) => {
      if (!request.prompt.includes("Create a simple outline")) return undefined;
      // The prompt carries the topic as JSON: the case is found by it, its titles answered.
      const c = byTopic.get(promptData(request.prompt)[0] ?? "");
      if (c?.outline === undefined) return { status: 400, message: "unknown topic" };
      return { content: c.outline };
    },
  });
  const server = await startTestServer([
    "--store",
    "memory",
    "--llm-provider",
    "openai",
    "--openai-base-url",
    llm.baseUrl,
    "--openai-api-key",
    "test-key",
  ]);
  try {
    await runCases(seed, cases, async (c) => {
      const job = await finish(server.url, await submitCase(server.url, c));
      assert.equal(job.status, "completed", String(job.error));
      assert.deepEqual(job.sections, c.titles?.map(normalizeTitle));
    });
    // Every outline was right the first time: none was asked for again.
    const outlines = llm.requests.filter((r) => r.prompt.includes("Create a simple outline"));
    assert.equal(outlines.length, CASES);
  } finally {
    await server.shutdown();
    await llm.close();
  }
});
