import assert from "node:assert/strict";
import OpenAI from "openai";
import { collectEvents } from "../testing/sse_client.ts";
import { promptData, startOpenAiServer } from "../testing/openai_server.ts";
import { startTestServer, submit } from "./_server.ts";

function openaiFlags(baseUrl: string, extra: string[] = []): string[] {
  return [
    "--llm-provider",
    "openai",
    "--openai-base-url",
    baseUrl,
    "--openai-api-key",
    "test-key",
    "--llm-model",
    "test-model",
    ...extra,
  ];
}

Deno.test("openai provider writes the article through an OpenAI-compatible server", async (t) => {
  const llm = await startOpenAiServer({ delayMs: 10 });
  const server = await startTestServer(openaiFlags(llm.baseUrl));
  try {
    const job = await submit(server.url, "Quantum computing");
    assert.equal(job.provider, "openai");
    assert.equal(job.model, "test-model");
    const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    const last = events.at(-1)!;
    assert.equal(last.event, "complete");
    const article = JSON.parse(last.data).article as string;

    await t.step("the prompts that reach the server carry the topic as quoted data", () => {
      assert.equal(llm.requests.length, 5, "outline + 3 sections + style");
      for (const request of llm.requests) {
        assert.equal(request.body.model, "test-model");
        assert.equal(promptData(request.prompt)[0], "Quantum computing");
      }
      assert.match(llm.requests[0]!.prompt, /Create a simple outline/);
    });
    await t.step("calls stream, and the streamed text reaches the client as deltas", () => {
      assert.ok(llm.requests.every((r) => r.body.stream === true));
      const styled = events.filter((e) => e.event === "delta").map((e) => JSON.parse(e.data))
        .filter((d) => d.step === "style").map((d) => d.text).join("");
      assert.equal(styled.trim(), article);
    });
    await t.step("the article is the server's, built from its outline and sections", () => {
      assert.match(article, /^# All about Quantum computing/);
      assert.match(article, /## Introduction to Quantum computing/);
      assert.match(article, /This section, Key ideas of Quantum computing, explains/);
    });
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("openai provider: a bad outline is asked for again, and a 500 is retried", async () => {
  const llm = await startOpenAiServer({
    script: (_request, n) => {
      if (n === 0) return { content: "Sorry, I cannot do YAML today." };
      if (n === 1) return { content: "```yaml\nsections: not-a-list\n```" };
      if (n === 3) return { status: 500, message: "upstream exploded" };
      return undefined;
    },
  });
  const server = await startTestServer(openaiFlags(llm.baseUrl));
  try {
    const job = await submit(server.url, "Retries");
    const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    assert.equal(events.at(-1)?.event, "complete", events.at(-1)?.data);
    const outlinePrompts = llm.requests.filter((r) => r.prompt.includes("Create a simple outline"));
    assert.equal(outlinePrompts.length, 3, "two invalid outlines, then a valid one");
    // Request 3 (the first section) failed with 500 and was sent again.
    assert.equal(llm.requests.length, 3 + 1 + 3 + 1);
    // The invalid outline's streamed text was voided for watchers.
    const resets = events.filter((e) => e.event === "delta" && JSON.parse(e.data).reset === true);
    assert.ok(resets.length >= 2, "a reset delta per abandoned outline attempt");
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

/** The `openai` provider's client for the test server at `baseURL`. */
async function clientFor(
  baseURL: string,
  options: { minRetryDelayMs?: number; timeoutMs?: number; maxAttempts?: number },
) {
  const { OpenAiClient } = await import("../src/llm/openai_client.ts");
  return new OpenAiClient({ apiKey: "k", baseURL, model: "m", ...options });
}

Deno.test("openai provider: the non-streaming path returns the whole text", async () => {
  const { outlinePrompt } = await import("../src/workflow/prompts.ts");
  const llm = await startOpenAiServer();
  try {
    const client = await clientFor(llm.baseUrl, { minRetryDelayMs: 1 });
    const text = await client.complete(outlinePrompt("Bees", 3));
    assert.match(text, /Introduction to Bees/);
    assert.equal(llm.requests[0]?.body.stream, undefined);
  } finally {
    await llm.close();
  }
});

Deno.test("openai provider: a stream that stalls mid-answer times out, never returns part of it", async () => {
  const { sectionPrompt } = await import("../src/workflow/prompts.ts");
  const llm = await startOpenAiServer({
    script: () => ({ content: "Bees dance to tell the hive where flowers are.", stallAfter: 3 }),
  });
  try {
    const client = await clientFor(llm.baseUrl, { timeoutMs: 300, maxAttempts: 1 });
    const deltas: string[] = [];
    await assert.rejects(
      client.complete(sectionPrompt("Bees", "Dance"), { onDelta: (d) => deltas.push(d) }),
      /did not answer within 300 ms/,
    );
    assert.equal(deltas.join(""), "Bees dance to ");
    // The client hung up: the server saw the request cancelled.
    for (let i = 0; i < 100 && !llm.requests[0]?.aborted; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(llm.requests[0]?.aborted, true);
  } finally {
    await llm.close();
  }
});

Deno.test("openai provider: a stream cut midway is tried again, its partial text voided", async () => {
  const { sectionPrompt } = await import("../src/workflow/prompts.ts");
  const answer = "Bees dance to tell the hive where flowers are.";
  const llm = await startOpenAiServer({
    script: (_request, n) => n === 0 ? { content: answer, cutAfter: 3 } : { content: answer },
  });
  try {
    const client = await clientFor(llm.baseUrl, { minRetryDelayMs: 1, maxAttempts: 2 });
    let text = "";
    let restarts = 0;
    const result = await client.complete(sectionPrompt("Bees", "Dance"), {
      onDelta: (d) => void (text += d),
      onRestart: () => {
        restarts++;
        text = "";
      },
    });
    assert.equal(result, answer);
    assert.equal(text, answer, "what was streamed after the restart is the answer");
    assert.equal(restarts, 1);
    assert.equal(llm.requests.length, 2);
  } finally {
    await llm.close();
  }
});

Deno.test("openai provider: streamed bodies are read as WHATWG event streams", async (t) => {
  const { sectionPrompt } = await import("../src/workflow/prompts.ts");
  const chunk = (content: string) =>
    `data: ${JSON.stringify({ choices: [{ delta: { content } }] })}`;
  const bodies: string[] = [
    // A byte order mark, then lines that end in a bare CR.
    "\uFEFF: hello\r\r" + ["Bees ", "dance."].map((c) => `${chunk(c)}\r\r`).join("") +
    "data: [DONE]\r\r",
    // A plain-text error event after the first words.
    `${chunk("Bees ")}\n\nevent: error\ndata: model overloaded, try later\n\n`,
  ];
  const llm = await startOpenAiServer({ script: (_r, n) => ({ rawStream: bodies[n] ?? "" }) });
  try {
    const client = await clientFor(llm.baseUrl, { maxAttempts: 1 });
    await t.step("a BOM and bare-CR line ends", async () => {
      const deltas: string[] = [];
      const text = await client.complete(sectionPrompt("Bees", "Dance"), {
        onDelta: (d) => deltas.push(d),
      });
      assert.equal(text, "Bees dance.");
      assert.deepEqual(deltas, ["Bees ", "dance."]);
    });
    await t.step("an error event in plain text is the call's error, with its words", async () => {
      await assert.rejects(
        client.complete(sectionPrompt("Bees", "Dance"), { onDelta: () => {} }),
        (error: unknown) => {
          // The provider's error type, as for a JSON error event: not a parse failure.
          assert.ok(error instanceof OpenAI.APIError, String(error));
          assert.match(error.message, /model overloaded, try later/);
          return true;
        },
      );
    });
  } finally {
    await llm.close();
  }
});

Deno.test("openai provider: a job whose LLM keeps cutting its stream fails with a reason a user can act on", async () => {
  const llm = await startOpenAiServer({
    script: (request) =>
      request.prompt.includes("Write a short paragraph")
        ? { content: "A section that never gets to its end.", cutAfter: 2 }
        : undefined,
  });
  const server = await startTestServer(openaiFlags(llm.baseUrl, ["--llm-max-attempts", "2"]));
  try {
    const job = await submit(server.url, "Broken streams");
    const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    assert.equal(events.at(-1)?.event, "error");
    const { message } = JSON.parse(events.at(-1)!.data) as { message: string };
    assert.match(message, /^The content step failed: /);
    assert.match(message, /failed 2 times/, "says how often it was tried");
    assert.match(message, /closed mid-answer/, "says what happened, not only Deno's words");
    assert.match(message, /LLM_MAX_ATTEMPTS/, "names the setting to change");
    assert.match(message, /error reading a body from connection/, "keeps the underlying error");
  } finally {
    await server.shutdown();
    await llm.close();
  }
});
