/**
 * A submit is accepted once its job and `queued` event are stored. These tests hold or fail that
 * first write (a slow or failing store) and race it with shutdown and cancel over real HTTP:
 * a job is either accepted with a log that nothing follows its terminal event, or refused with a
 * `503` and no trace.
 */

import assert from "node:assert/strict";
import type { JobEvent } from "../src/core/job.ts";
import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import type { RunningServer } from "../src/server.ts";
import { GatedStore } from "../testing/gated_store.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer, waitFor } from "./_server.ts";

/** The offline writer, counting its calls: a job that never runs makes none. */
class CountingWriter implements LlmClient {
  readonly provider = "offline";
  readonly model = null;
  calls = 0;
  readonly #inner = new OfflineWriter({ delayMs: 600_000 });
  complete(request: LlmRequest, options?: LlmCallOptions): Promise<string> {
    this.calls++;
    return this.#inner.complete(request, options);
  }
}

const TERMINAL = new Set(["complete", "error", "cancelled"]);

/** Fails, rather than hangs, when `promise` does not settle within `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function post(server: RunningServer, topic: string): Promise<Response> {
  return fetch(`${server.url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  });
}

async function assertServiceUnavailable(response: Response, code: string): Promise<void> {
  const body = await response.json();
  assert.equal(response.status, 503, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
  assert.match(response.headers.get("retry-after") ?? "", /^\d+$/);
}

/** Nothing running, waiting or counted: no trace of a refused job in the figures. */
function assertNoJobs(server: RunningServer): void {
  const stats = server.manager.stats();
  assert.deepEqual([stats.running, stats.queued], [0, 0]);
  for (const [status, n] of Object.entries(stats.jobsByStatus)) {
    assert.equal(n, 0, `jobs counted as ${status}`);
  }
}

/** No event follows a terminal one, and ids run 1, 2, 3, … */
function assertLogEndsOnce(events: JobEvent[]): void {
  assert.deepEqual(events.map((e) => e.id), events.map((_, i) => i + 1));
  const end = events.findIndex((e) => TERMINAL.has(e.type));
  assert.ok(end === -1 || end === events.length - 1, `log: ${events.map((e) => e.type)}`);
}

Deno.test("a submit still writing its job when shutdown begins gets 503 and leaves nothing", async (t) => {
  await t.step("a slow first write", async () => {
    const store = new GatedStore();
    const llm = new CountingWriter();
    const server = await startTestServer([], { store, llm });
    store.firstWrite = "hold";
    const pending = post(server, "written slowly");
    await waitFor(() => store.held.length === 1, 10_000, "the first write");
    const stopping = server.shutdown();
    store.held[0]?.release();
    await assertServiceUnavailable(await within(pending, "the submit"), "shutting_down");
    await within(stopping, "shutdown");
    assert.deepEqual(await store.inner.list(10), []);
    assert.deepEqual(await store.inner.events(store.held[0]?.id ?? "", 0, 10), []);
    assert.equal(llm.calls, 0, "it never ran");
    assertNoJobs(server);
  });

  await t.step("a first write that never ends does not hold up shutdown", async () => {
    const store = new GatedStore();
    const server = await startTestServer([], { store, llm: new CountingWriter() });
    store.firstWrite = "hold";
    const pending = post(server, "never written");
    await waitFor(() => store.held.length === 1, 10_000, "the first write");
    const stopping = server.shutdown();
    await assertServiceUnavailable(await within(pending, "the submit"), "shutting_down");
    await within(stopping, "shutdown");
    assert.deepEqual(await store.inner.list(10), []);
    assertNoJobs(server);
  });
});

Deno.test("a job cancelled while its first write is slow ends cancelled and never runs", async () => {
  const store = new GatedStore();
  const llm = new CountingWriter();
  const server = await startTestServer([], { store, llm });
  try {
    store.firstWrite = "hold";
    const pending = post(server, "cancelled early");
    await waitFor(() => store.held.length === 1, 10_000, "the first write");
    const id = store.held[0]?.id as string;
    // The record is readable before it is stored, as SQLite's buffered ones are.
    const listed = await (await fetch(`${server.url}/api/jobs`)).json();
    assert.deepEqual(listed.jobs.map((job: { id: string }) => job.id), [id]);
    const cancel = await fetch(`${server.url}/api/jobs/${id}`, { method: "DELETE" });
    assert.equal(cancel.status, 202);
    assert.equal((await cancel.json()).status, "cancelled");
    store.held[0]?.release();
    const accepted = await within(pending, "the submit");
    assert.equal(accepted.status, 202);
    assert.equal((await accepted.json()).status, "cancelled");
    await waitFor(() => server.manager.stats().running === 0, 10_000, "nothing to run");
    assertLogEndsOnce(await store.inner.events(id, 0, 100));
    const events = await collectEvents(`${server.url}/api/jobs/${id}/events`);
    assert.deepEqual(events.map((e) => [e.id, e.event]), [["1", "status"], ["2", "cancelled"]]);
    assert.equal(llm.calls, 0, "it never ran");
    const stats = server.manager.stats();
    assert.deepEqual([stats.running, stats.queued], [0, 0]);
    assert.deepEqual(stats.jobsByStatus, { ...stats.jobsByStatus, queued: 0, cancelled: 1 });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a submit whose first write fails answers 503 and leaves no trace", async () => {
  const store = new GatedStore();
  // One slot, no waiting line: a place the failed submit kept would refuse the next one.
  const server = await startTestServer(["--max-concurrent-jobs", "1", "--max-queued-jobs", "0"], {
    store,
    llm: new CountingWriter(),
  });
  try {
    store.firstWrite = "reject";
    const failed = await within(post(server, "not stored"), "the submit");
    await assertServiceUnavailable(failed, "store_unavailable");
    assert.deepEqual(await store.inner.list(10), []);
    const listed = await (await fetch(`${server.url}/api/jobs`)).json();
    assert.deepEqual(listed.jobs, []);
    assertNoJobs(server);

    store.firstWrite = "pass";
    const accepted = await post(server, "stored");
    assert.equal(accepted.status, 202, "the failed submit gave its place back");
    await accepted.body?.cancel();
    const refused = await post(server, "one too many");
    assert.equal(refused.status, 429);
    await refused.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
