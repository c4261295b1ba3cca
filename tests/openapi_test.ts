/**
 * `GET /openapi.json` against independent tools and the real service: valid OpenAPI 3.1 per
 * `npm:@apidevtools/swagger-parser`, the same routes as the router, and every response and
 * event the tests can provoke described by it (`testing/openapi_validator.ts`, with `npm:ajv`).
 *
 * @module
 */

import assert from "node:assert/strict";
import SwaggerParser from "npm:@apidevtools/swagger-parser@13.1.0";
import type { Job, JobEventType } from "../src/api/api_schema.ts";
import { createHandler } from "../src/http/app.ts";
import type { JobEventType as LoggedEventType, JobRecord, JobSnapshot } from "../src/core/job.ts";
import { JobManager } from "../src/jobs/job_manager.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import { Metrics } from "../src/http/metrics.ts";
import { openApiDocument } from "../src/api/openapi.ts";
import { StoreUnavailableError } from "../src/core/store_unavailable_error.ts";
import { startOpenAiServer } from "../testing/openai_server.ts";
import { OpenApiValidator, type StreamEvent } from "../testing/openapi_validator.ts";
import { startTestServer, submit, waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

/** The job snapshot type the server builds is the one the document (and client) describe. */
type Simplify<T> = { [K in keyof T]: T[K] };
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
const snapshotMatchesDocument: Equal<
  Simplify<JobSnapshot & { streamToken?: string }>,
  Simplify<Job>
> = true;
/** The event types the job log holds are the ones the document describes. */
const eventTypesMatchDocument: Equal<LoggedEventType, JobEventType> = true;

const TERMINAL = new Set(["complete", "error", "cancelled"]);
const UNKNOWN_ID = "0190f5a2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";

const openaiFlags = (baseUrl: string, extra: string[] = []) => [
  "--llm-provider",
  "openai",
  "--openai-base-url",
  baseUrl,
  "--openai-api-key",
  "k",
  "--llm-model",
  "m",
  ...extra,
];

/** Sends a request and checks its answer against the document. */
async function call(
  validator: OpenApiValidator,
  method: string,
  url: string,
  init: RequestInit = {},
  options: Parameters<OpenApiValidator["check"]>[3] = {},
) {
  const response = await fetch(url, { ...init, method });
  return await validator.check(method, url, response, options);
}

const jsonBody = (value: unknown): RequestInit => ({
  headers: { "content-type": "application/json" },
  body: JSON.stringify(value),
});

/** Serves `handler` on a loopback port of its own. */
function serve(handler: (request: Request) => Promise<Response>) {
  const { promise, resolve } = Promise.withResolvers<string>();
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: ({ port }) => resolve(`http://127.0.0.1:${port}`),
  }, handler);
  return { url: promise, close: () => server.shutdown() };
}

Deno.test("the document's types are the server's snapshot and event types", () => {
  assert.equal(snapshotMatchesDocument, true);
  assert.equal(eventTypesMatchDocument, true);
});

Deno.test("GET /openapi.json is valid OpenAPI 3.1 per swagger-parser, and public", async () => {
  const server = await startTestServer(["--api-token", "s3cret"]);
  try {
    const response = await fetch(`${server.url}/openapi.json`);
    assert.equal(response.status, 200, "no token needed");
    assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
    const document = await response.json();
    assert.deepEqual(document, JSON.parse(JSON.stringify(openApiDocument())));
    // swagger-parser dereferences in place: give it a copy.
    const api = await SwaggerParser.validate(structuredClone(document));
    assert.equal((api as { openapi?: string }).openapi, "3.1.0");
    // Every reference resolves (swagger-parser throws on one that does not).
    await SwaggerParser.dereference(structuredClone(document));
    const names = Object.keys(document.components.schemas);
    for (
      const wanted of [
        "Job",
        "JobList",
        "Error",
        "StatusEventData",
        "ProgressEventData",
        "DeltaEventData",
        "CompleteEventData",
        "ErrorEventData",
        "CancelledEventData",
        "ShutdownEventData",
        "CompatMessage",
      ]
    ) {
      assert.ok(names.includes(wanted), `a named schema ${wanted}`);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("the document lists exactly the routes the service serves", () => {
  const manager = new JobManager({ store: new MemoryJobStore(), llm: new OfflineWriter() });
  const handler = createHandler({ manager, metrics: new Metrics() });
  const served = handler.routes
    .filter((route) => route.method !== "HEAD")
    .map(({ method, path }) => `${method} ${path.replace(/:([a-zA-Z]+)/g, "{$1}")}`)
    .sort();
  const validator = new OpenApiValidator(openApiDocument());
  assert.deepEqual(validator.operations().sort(), served);
  return manager.close();
});

Deno.test("the service's module graph holds no OpenAPI or test tooling", async () => {
  const { stdout, success } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.ok(success);
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string; dependencies?: { specifier: string }[] }[];
  };
  // Every module and every specifier imported, npm ones included (the lockfile's package list
  // in the same output is not the graph).
  const specifiers = graph.modules.flatMap((m) => [
    m.specifier,
    ...(m.dependencies ?? []).map((d) => d.specifier),
  ]);
  assert.ok(specifiers.some((s) => s.endsWith("/src/api/openapi.ts")), "the graph was read");
  const tooling = specifiers.filter((s) => /swagger-parser|apidevtools|\/testing\//.test(s));
  assert.deepEqual(tooling, []);
});

Deno.test("every response of the service is described by /openapi.json", async (t) => {
  const server = await startTestServer([
    "--offline-delay-ms",
    "5",
    "--cors-origins",
    "https://a.example",
  ]);
  const validator = await OpenApiValidator.fetch(server.url);
  const base = server.url;
  try {
    await t.step("pages, files, health, metrics", async () => {
      await call(validator, "GET", `${base}/`);
      await call(validator, "GET", `${base}/docs`);
      const asset = await fetch(`${base}/static/app.js`);
      await validator.check("GET", asset.url, asset);
      await call(validator, "GET", `${base}/static/docs.css`);
      await call(validator, "GET", `${base}/static/marked.LICENSE.txt`);
      const etag = asset.headers.get("etag") ?? "";
      const cached = await call(validator, "GET", `${base}/static/app.js`, {
        headers: { "if-none-match": etag },
      });
      assert.equal(cached.status, 304);
      assert.equal((await call(validator, "GET", `${base}/static/nope.js`)).status, 404);
      assert.deepEqual((await call(validator, "GET", `${base}/healthz`)).body, { status: "ok" });
      await call(validator, "GET", `${base}/metrics`);
    });

    let completed: { id: string } | undefined;
    await t.step("submit in every body type, read, list", async () => {
      const created = await call(validator, "POST", `${base}/api/jobs`, jsonBody({ topic: "Tea" }));
      assert.equal(created.status, 202);
      completed = created.body as { id: string };
      const form = await call(validator, "POST", `${base}/api/jobs`, {
        body: new URLSearchParams({ topic: "Form tea" }),
      });
      assert.equal(form.status, 202);
      const multipart = new FormData();
      multipart.set("topic", "Multipart tea");
      assert.equal(
        (await call(validator, "POST", `${base}/api/jobs`, { body: multipart })).status,
        202,
      );
      assert.equal((await call(validator, "GET", `${base}/api/jobs/${completed.id}`)).status, 200);
      const list = await call(validator, "GET", `${base}/api/jobs?limit=3`);
      assert.equal((list.body as { jobs: unknown[] }).jobs.length, 3);
      assert.equal((await call(validator, "GET", `${base}/api/jobs`)).status, 200);
    });

    await t.step("every event of a full run, from real SSE", async () => {
      const id = completed!.id;
      const { events } = await call(validator, "GET", `${base}/api/jobs/${id}/events`);
      const types = new Set(events!.map((e) => e.event));
      for (const type of ["status", "progress", "delta", "complete"]) {
        assert.ok(types.has(type), `a ${type} event`);
      }
      assert.equal(events!.at(-1)?.event, "complete");
      // Resuming part-way: the rest, and the same shapes.
      const resumed = await call(validator, "GET", `${base}/api/jobs/${id}/events`, {
        headers: { "last-event-id": "3" },
      });
      assert.deepEqual(resumed.events, events!.slice(3));
      const viaQuery = await call(validator, "GET", `${base}/api/jobs/${id}/events?lastEventId=3`);
      assert.deepEqual(viaQuery.events, events!.slice(3));
      // The snapshot, now completed, and the job in the list.
      const job = await call(validator, "GET", `${base}/api/jobs/${id}`);
      assert.equal((job.body as { status: string }).status, "completed");
    });

    await t.step("the stream of several jobs: listed, every job, and its refusals", async () => {
      const id = completed!.id;
      const other = (await submit(base, "Another tea")).id;
      const listed = await call(validator, "GET", `${base}/api/events?jobs=${id},${other}`);
      const ends = listed.events!.filter((e) => TERMINAL.has(e.event));
      assert.equal(ends.length, 2, "ends once both jobs have ended");
      const resumed = await call(validator, "GET", `${base}/api/events?jobs=${id},${other}`, {
        headers: { "last-event-id": listed.events![4]!.id! },
      });
      assert.deepEqual(resumed.events, listed.events!.slice(5));
      // Every job from now: a job submitted after connecting is followed to its end.
      const response = await fetch(`${base}/api/events`);
      const fresh = await submit(base, "Fresh tea");
      const every = await validator.check("GET", response.url, response, {
        until: (event) =>
          (event.data as { job?: string }).job === fresh.id && event.event === "complete",
      });
      assert.ok(every.events!.some((e) => (e.data as { job?: string }).job === fresh.id));
      for (const bad of ["?jobs=", "?jobs=nope"]) {
        assert.equal((await call(validator, "GET", `${base}/api/events${bad}`)).status, 400);
      }
      const unknown = await call(validator, "GET", `${base}/api/events?jobs=${UNKNOWN_ID}`);
      assert.equal(unknown.status, 404);
    });

    await t.step("the original example's routes and messages", async () => {
      const started = await call(
        validator,
        "POST",
        `${base}/start-job`,
        jsonBody({ topic: "Old" }),
      );
      const id = (started.body as { job_id: string }).job_id;
      const { events } = await call(validator, "GET", `${base}/progress/${id}`, {}, {
        until: (event) => (event.data as { step?: string }).step === "complete",
      });
      const steps = events!.map((e) => (e.data as { step?: string }).step);
      assert.deepEqual(steps.slice(0, 2), ["connected", "outline"]);
      assert.equal(steps.at(-1), "complete");
      const missing = await call(validator, "GET", `${base}/progress/${UNKNOWN_ID}`, {}, {
        until: () => true,
      });
      assert.deepEqual(missing.events?.[0]?.data, { error: "Job not found" });
    });

    await t.step(
      "Idempotency-Key: a replay, 422, and 400s for the key and the webhook",
      async () => {
        const keyed = (key: string, body: unknown): RequestInit => ({
          headers: { "content-type": "application/json", "idempotency-key": key },
          body: JSON.stringify(body),
        });
        const post = `${base}/api/jobs`;
        const first = await call(validator, "POST", post, keyed('"doc-1"', { topic: "Keyed tea" }));
        assert.equal(first.status, 202);
        const response = await fetch(post, {
          method: "POST",
          ...keyed("doc-1", { topic: "Keyed tea" }),
        });
        assert.equal(response.headers.get("idempotent-replayed"), "true");
        const replayed = await validator.check("POST", post, response);
        assert.deepEqual(replayed.body, first.body);
        const refusals: [RequestInit, number, string][] = [
          [keyed("doc-1", { topic: "Other tea" }), 422, "idempotency_key_reused"],
          [keyed('"', { topic: "Keyed tea" }), 400, "invalid_idempotency_key"],
          [
            jsonBody({ topic: "Hooked tea", webhook: "https://a.example/hook" }),
            400,
            "webhook_origin_not_allowed",
          ],
        ];
        for (const [init, status, code] of refusals) {
          const refused = await call(validator, "POST", post, init);
          assert.equal(refused.status, status, code);
          assert.equal((refused.body as { error: { code: string } }).error.code, code);
        }
      },
    );

    await t.step("400, 404, 405, 409, 413, 415 and CORS preflights", async () => {
      const expectError = async (
        method: string,
        url: string,
        init: RequestInit,
        status: number,
        code: string,
      ) => {
        const checked = await call(validator, method, url, init);
        assert.equal(checked.status, status, `${method} ${url}`);
        assert.equal((checked.body as { error: { code: string } }).error.code, code);
      };
      const post = `${base}/api/jobs`;
      await expectError("POST", post, jsonBody({}), 400, "missing_topic");
      await expectError("POST", post, jsonBody({ topic: " " }), 400, "invalid_topic");
      await expectError(
        "POST",
        post,
        {
          headers: { "content-type": "application/json" },
          body: "{",
        },
        400,
        "invalid_json",
      );
      await expectError(
        "POST",
        post,
        {
          headers: { "content-type": "application/json" },
          body: new Uint8Array([0x7b, 0xff, 0x7d]),
        },
        400,
        "invalid_utf8",
      );
      await expectError("POST", `${base}/start-job`, jsonBody({}), 400, "missing_topic");
      await expectError("GET", `${base}/api/jobs?limit=0`, {}, 400, "invalid_limit");
      await expectError(
        "GET",
        `${base}/api/jobs/${completed!.id}/events`,
        { headers: { "last-event-id": "999999" } },
        400,
        "invalid_last_event_id",
      );
      await expectError("GET", `${base}/api/jobs/${UNKNOWN_ID}`, {}, 404, "not_found");
      await expectError("GET", `${base}/api/jobs/not-a-uuid`, {}, 404, "not_found");
      await expectError("DELETE", `${base}/api/jobs/${UNKNOWN_ID}`, {}, 404, "not_found");
      await expectError("GET", `${base}/api/jobs/${UNKNOWN_ID}/events`, {}, 404, "not_found");
      await expectError("GET", `${base}/no/such/route`, {}, 404, "not_found");
      await expectError("DELETE", `${base}/healthz`, {}, 405, "method_not_allowed");
      await expectError("PUT", `${base}/api/jobs/${UNKNOWN_ID}`, {}, 405, "method_not_allowed");
      await expectError("POST", `${base}/openapi.json`, {}, 405, "method_not_allowed");
      await expectError("PATCH", `${base}/mcp`, {}, 405, "method_not_allowed");
      await expectError("DELETE", `${base}/api/jobs/${completed!.id}`, {}, 409, "job_finished");
      await expectError(
        "POST",
        post,
        {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ topic: "x".repeat(20_000) }),
        },
        413,
        "body_too_large",
      );
      await expectError(
        "POST",
        post,
        {
          headers: { "content-type": "text/plain" },
          body: "tea",
        },
        415,
        "unsupported_media_type",
      );
      const preflight = (origin: string) => ({
        headers: { origin, "access-control-request-method": "POST" },
      });
      assert.equal(
        (await call(validator, "OPTIONS", post, preflight("https://a.example"))).status,
        204,
      );
      await expectError(
        "OPTIONS",
        post,
        preflight("https://evil.example"),
        403,
        "cors_origin_not_allowed",
      );
    });

    await t.step("/mcp: a session's answers and the transport's errors", async () => {
      const mcp = `${base}/mcp`;
      const accept = "application/json, text/event-stream";
      const initialize = {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "openapi-test", version: "1" },
        },
      };
      const opened = await fetch(mcp, {
        method: "POST",
        headers: { "content-type": "application/json", accept },
        body: JSON.stringify(initialize),
      });
      const session = opened.headers.get("mcp-session-id") ?? "";
      const first = await validator.check("POST", mcp, opened, { until: () => true });
      assert.equal(first.status, 200);
      assert.ok(session !== "", "a session id");
      const headers = {
        "content-type": "application/json",
        accept,
        "mcp-session-id": session,
        "mcp-protocol-version": "2025-06-18",
      };
      const notified = await call(validator, "POST", mcp, {
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
      });
      assert.equal(notified.status, 202);
      const listed = await call(validator, "POST", mcp, {
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      }, { until: () => true });
      assert.equal(listed.status, 200);
      assert.equal(
        (await call(validator, "GET", mcp, { headers: { accept } })).status,
        400,
        "a GET without a session",
      );
      assert.equal(
        (await call(validator, "POST", mcp, {
          headers: { ...headers, accept: "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }),
        })).status,
        406,
      );
      assert.equal(
        (await call(validator, "POST", mcp, {
          headers: { ...headers, "content-type": "text/plain" },
          body: "{}",
        })).status,
        415,
      );
      assert.equal(
        (await call(validator, "POST", mcp, {
          headers: { ...headers, origin: "https://evil.example" },
          body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list" }),
        })).status,
        403,
      );
      assert.equal((await call(validator, "DELETE", mcp, { headers })).status, 200);
      assert.equal(
        (await call(validator, "DELETE", mcp, { headers })).status,
        404,
        "the session has ended",
      );
    });
  } finally {
    await server.shutdown();
  }

  await t.step(
    "a failed run: its error event, and the original stream's error message",
    async () => {
      const llm = await startOpenAiServer({
        script: () => ({ status: 500, message: "overloaded" }),
      });
      const server = await startTestServer(openaiFlags(llm.baseUrl, ["--llm-max-attempts", "1"]));
      try {
        const job = await submit(server.url, "Failed tea");
        const { events } = await call(validator, "GET", `${server.url}/api/jobs/${job.id}/events`);
        assert.equal(events!.at(-1)?.event, "error");
        const failed = await call(validator, "GET", `${server.url}/api/jobs/${job.id}`);
        assert.equal((failed.body as { status: string }).status, "failed");
        const compat = await call(validator, "GET", `${server.url}/progress/${job.id}`, {}, {
          until: (event) => (event.data as { step?: string }).step === "error",
        });
        assert.equal((compat.events!.at(-1)?.data as { step: string }).step, "error");
      } finally {
        await server.shutdown();
        await llm.close();
      }
    },
  );

  await t.step("a cancelled run: every event, and the cancel's answer", async () => {
    // The outline is answered; every section then stalls mid-stream, so the job is running
    // with text streamed when it is cancelled, whatever the machine's speed.
    const llm = await startOpenAiServer({
      script: (_request, n) =>
        n === 0
          ? undefined
          : { content: "Tea is a drink with a long story. ".repeat(8), stallAfter: 2 },
    });
    const server = await startTestServer(openaiFlags(llm.baseUrl));
    try {
      const job = await submit(server.url, "Cancelled tea");
      const url = `${server.url}/api/jobs/${job.id}/events`;
      const watching = call(validator, "GET", url);
      watching.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
      await waitFor(
        async () => {
          const record = await server.manager.get(job.id) as JobRecord;
          return record.progress >= 33 && record.lastEventId >= 6;
        },
        20_000,
        "the outline and streamed text",
      );
      const cancelled = await call(validator, "DELETE", `${server.url}/api/jobs/${job.id}`);
      assert.equal(cancelled.status, 202);
      assert.equal((cancelled.body as { status: string }).status, "cancelled");
      const { events } = await watching;
      const types = events!.map((e: StreamEvent) => e.event);
      for (const type of ["status", "progress", "delta"]) assert.ok(types.includes(type), type);
      assert.equal(types.at(-1), "cancelled");
      assert.equal(types.filter((type) => TERMINAL.has(type)).length, 1);
    } finally {
      await server.shutdown();
      await llm.close();
    }
  });

  await t.step("429 with Retry-After, and 401 without the token", async () => {
    const llm = await startOpenAiServer({ script: () => ({ hang: true }) });
    const server = await startTestServer(
      openaiFlags(llm.baseUrl, [
        "--max-concurrent-jobs",
        "1",
        "--max-queued-jobs",
        "0",
        "--api-token",
        "s3cret",
      ]),
    );
    try {
      const auth = { authorization: "Bearer s3cret" };
      const post = `${server.url}/api/jobs`;
      const first = await call(validator, "POST", post, {
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ topic: "First" }),
      });
      assert.equal(first.status, 202);
      const job = first.body as { id: string; streamToken: string };
      assert.equal(typeof job.streamToken, "string");
      const full = await call(validator, "POST", post, {
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ topic: "Second" }),
      });
      assert.equal(full.status, 429);
      assert.equal((await call(validator, "GET", post)).status, 401);
      assert.equal(
        (await call(validator, "GET", `${server.url}/api/jobs/${job.id}/events`)).status,
        401,
      );
      assert.equal((await call(validator, "POST", `${server.url}/mcp`, jsonBody({}))).status, 401);
      // The stream token opens the job's stream; read up to the running job's first events.
      const stream = await call(
        validator,
        "GET",
        `${server.url}/api/jobs/${job.id}/events?token=${job.streamToken}`,
        {},
        { until: (event) => (event.data as { status?: string }).status === "running" },
      );
      assert.equal(stream.status, 200);
    } finally {
      await server.shutdown();
      await llm.close();
    }
  });

  await t.step("503s: shutting down, store unreachable, degraded health; 500", async () => {
    class FlakyStore extends MemoryJobStore {
      unreachable = false;
      broken = false;
      override put(job: JobRecord): Promise<void> {
        if (this.unreachable) return Promise.reject(new StoreUnavailableError("Redis"));
        return super.put(job);
      }
      override list(limit: number): Promise<JobRecord[]> {
        if (this.broken) return Promise.reject(new Error("a bug"));
        return super.list(limit);
      }
    }
    const store = new FlakyStore();
    const manager = new JobManager({ store, llm: new OfflineWriter({ delayMs: 0 }) });
    const handler = createHandler({
      manager,
      metrics: new Metrics(),
      health: () => Promise.resolve({ redis: "unreachable" }),
    });
    const served = serve(handler);
    const base = await served.url;
    try {
      const health = await call(validator, "GET", `${base}/healthz`);
      assert.equal(health.status, 503);
      store.unreachable = true;
      const refused = await call(validator, "POST", `${base}/api/jobs`, jsonBody({ topic: "x" }));
      assert.equal(refused.status, 503);
      assert.equal((refused.body as { error: { code: string } }).error.code, "store_unavailable");
      store.unreachable = false;
      store.broken = true;
      assert.equal((await call(validator, "GET", `${base}/api/jobs`)).status, 500);
      await manager.shutdown(0);
      const closing = await call(validator, "POST", `${base}/api/jobs`, jsonBody({ topic: "x" }));
      assert.equal(closing.status, 503);
      assert.equal((closing.body as { error: { code: string } }).error.code, "shutting_down");
      const compat = await call(validator, "POST", `${base}/start-job`, jsonBody({ topic: "x" }));
      assert.equal(compat.status, 503);
    } finally {
      await manager.close();
      await served.close();
    }
  });

  await t.step("a stream ended by shutdown ends with a shutdown event", async () => {
    await using dir = await makeTestDir("openapi-shutdown");
    const llm = await startOpenAiServer({ script: () => ({ hang: true }) });
    const server = await startTestServer(
      openaiFlags(llm.baseUrl, ["--store", "sqlite", "--data-dir", dir.path]),
    );
    try {
      const job = await submit(server.url, "Left for the next start");
      await waitFor(() => llm.requests.length === 1, 10_000, "the outline request");
      const watching = call(validator, "GET", `${server.url}/api/jobs/${job.id}/events`);
      watching.catch(() => {}); // awaited below
      await waitFor(() => server.manager.stats().streams === 1, 10_000, "the stream");
      await server.shutdown(0);
      const { events } = await watching;
      assert.equal(events!.at(-1)?.event, "shutdown");
      assert.equal(events!.at(-1)?.id, "2", "no id of its own: EventSource keeps the last");
    } finally {
      await server.shutdown();
      await llm.close();
    }
  });

  await t.step("every operation and error status was checked", () => {
    const seen = [...validator.seen];
    for (const operation of validator.operations()) {
      assert.ok(
        seen.some((entry) => entry.startsWith(`${operation} `)),
        `${operation} was never checked`,
      );
    }
    for (const status of [400, 401, 404, 405, 409, 413, 415, 422, 429, 500, 503]) {
      assert.ok(seen.some((entry) => entry.endsWith(` ${status}`)), `no ${status} was checked`);
    }
    const message = (validator.document.components as {
      schemas: { JobStreamMessage: { oneOf: { properties: { event: { const: string } } }[] } };
    }).schemas.JobStreamMessage;
    const described = message.oneOf.map((branch) => branch.properties.event.const);
    assert.equal(described.length, 8);
    for (const event of described) {
      assert.ok(
        validator.seenEvents.has(`/api/jobs/{id}/events ${event}`),
        `no ${event} event was checked`,
      );
    }
  });
});
