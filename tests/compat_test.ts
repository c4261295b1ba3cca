/**
 * The original example's `/progress/{id}` stream after its last message: the example's page
 * reports any close of its EventSource as "Connection lost", so the stream stays open with
 * heartbeats for `COMPAT_HOLD_MS`, counted as an open stream, and then ends by itself. The page
 * itself is driven in Chromium in `browser_test.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import { collectEvents, readSse } from "../testing/sse_client.ts";
import { startTestServer, waitFor } from "./_server.ts";

type Message = Record<string, unknown> & { step?: string; heartbeat?: boolean };

/** A `/progress/{id}` stream read message by message; it fails rather than hang past `limitMs`. */
async function openProgress(url: string, limitMs = 30_000) {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`${url} was still open after ${limitMs} ms`)),
    limitMs,
  );
  const response = await fetch(url, { signal: controller.signal });
  assert.equal(response.status, 200);
  const events = readSse(response.body as ReadableStream<Uint8Array>);
  return {
    /** The next message, or `null` once the server has ended the stream. */
    async next(): Promise<Message | null> {
      const { done, value } = await events.next();
      return done ? null : JSON.parse(value.data) as Message;
    },
    /** Reads until `until` holds for a message; throws if the stream ends first. */
    async readUntil(until: (message: Message) => boolean): Promise<Message[]> {
      const seen: Message[] = [];
      for (;;) {
        const message = await this.next();
        if (message === null) {
          throw new Error(`the stream ended after ${JSON.stringify(seen.slice(-3))}`);
        }
        seen.push(message);
        if (until(message)) return seen;
      }
    },
    /** Leaves, as a closed tab does. */
    async close(): Promise<void> {
      clearTimeout(timer);
      await events.return(undefined);
    },
    /** Stops the time limit once the stream has ended. */
    done(): void {
      clearTimeout(timer);
    },
  };
}

async function startJob(base: string, topic: string): Promise<string> {
  const response = await fetch(`${base}/start-job`, {
    method: "POST",
    body: new URLSearchParams({ topic }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).job_id;
}

async function openStreamsGauge(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("quillflow_sse_streams_open "));
  return Number(line?.split(" ")[1]);
}

const isTerminal = (m: Message) => m.step === "complete" || m.step === "error";

/** The offline writer, except that a topic starting with "Hang" never finishes until cancelled. */
class HangingWriter implements LlmClient {
  readonly provider = "offline";
  readonly model = null;
  readonly #offline = new OfflineWriter({ delayMs: 5 });

  complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    if (!String(request.input.topic).startsWith("Hang")) {
      return this.#offline.complete(request, options);
    }
    return new Promise((_, reject) => {
      const signal = options.signal;
      if (!signal) return;
      if (signal.aborted) reject(signal.reason);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  }
}

Deno.test("a compatibility stream stays open after its last message, with heartbeats", async (t) => {
  const server = await startTestServer(
    ["--heartbeat-ms", "50", "--compat-hold-ms", "60s"],
    { llm: new HangingWriter() },
  );
  const base = server.url;
  try {
    const finished = await startJob(base, "Held streams");

    await t.step("after `complete`: only heartbeats, and the stream counts as open", async () => {
      const stream = await openProgress(`${base}/progress/${finished}`);
      try {
        const before = await stream.readUntil((m) => m.step === "complete");
        assert.equal(before.filter(isTerminal).length, 1);
        const after = await stream.readUntil((() => {
          let heartbeats = 0;
          return (m: Message) => m.heartbeat === true && ++heartbeats === 2;
        })());
        assert.deepEqual(after, [{ heartbeat: true }, { heartbeat: true }]);
        assert.equal(await openStreamsGauge(base), 1);
      } finally {
        await stream.close();
      }
    });

    await t.step("a client that leaves is let go at once", async () => {
      await waitFor(() => server.manager.stats().streams === 0, 10_000, "the stream to go");
      assert.equal(await openStreamsGauge(base), 0);
    });

    await t.step("a cancelled job's error message is held open the same way", async () => {
      const hanging = await startJob(base, "Hang on");
      const stream = await openProgress(`${base}/progress/${hanging}`);
      try {
        await stream.readUntil((m) => m.step === "connected");
        const cancel = await fetch(`${base}/api/jobs/${hanging}`, { method: "DELETE" });
        assert.equal(cancel.status, 202);
        await cancel.body?.cancel();
        const seen = await stream.readUntil(isTerminal);
        assert.deepEqual(seen.at(-1), {
          step: "error",
          progress: 0,
          data: { error: "Job cancelled" },
        });
        assert.deepEqual(await stream.next(), { heartbeat: true });
      } finally {
        await stream.close();
      }
    });

    await t.step("the native stream still ends at its terminal event", async () => {
      const events = await collectEvents(`${base}/api/jobs/${finished}/events`);
      assert.equal(events.at(-1)?.event, "complete");
    });

    await t.step("shutdown ends a held stream", async () => {
      const stream = await openProgress(`${base}/progress/${finished}`);
      await stream.readUntil((m) => m.step === "complete");
      assert.deepEqual(await stream.next(), { heartbeat: true });
      await waitFor(() => server.manager.stats().streams === 1, 10_000, "one open stream");
      await server.shutdown();
      for (let m = await stream.next(); m !== null; m = await stream.next()) {
        assert.deepEqual(m, { heartbeat: true }, "nothing but heartbeats after the last message");
      }
      stream.done();
      assert.equal(server.manager.stats().streams, 0);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a compatibility stream ends by itself once COMPAT_HOLD_MS has passed", async (t) => {
  const holdMs = 800;
  const server = await startTestServer([
    "--heartbeat-ms",
    "50",
    "--compat-hold-ms",
    String(holdMs),
  ]);
  try {
    const id = await startJob(server.url, "Bounded streams");
    await t.step("heartbeats follow `complete`, then the server closes", async () => {
      const stream = await openProgress(`${server.url}/progress/${id}`);
      await stream.readUntil((m) => m.step === "complete");
      const after: Message[] = [];
      for (let m = await stream.next(); m !== null; m = await stream.next()) after.push(m);
      const endedAt = Date.now();
      stream.done();
      assert.ok(after.length >= 1, "no heartbeat after the last message");
      for (const m of after) assert.deepEqual(m, { heartbeat: true });
      // The hold starts when `complete` is written, which is after the job's finish time.
      const job = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
      assert.ok(
        endedAt >= Date.parse(job.finishedAt) + holdMs,
        `closed ${endedAt - Date.parse(job.finishedAt)} ms after the job finished`,
      );
      await waitFor(() => server.manager.stats().streams === 0, 10_000, "the stream to go");
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("COMPAT_HOLD_MS=0 ends a compatibility stream at its last message", async () => {
  const server = await startTestServer(["--heartbeat-ms", "50", "--compat-hold-ms", "0"]);
  try {
    const id = await startJob(server.url, "Unheld streams");
    const stream = await openProgress(`${server.url}/progress/${id}`);
    await stream.readUntil((m) => m.step === "complete");
    assert.equal(await stream.next(), null);
    stream.done();
  } finally {
    await server.shutdown();
  }
});

// The original stream has no message for text deltas: a step that only streams text (a model
// writing for a minute) must still get heartbeats, or proxies and the page see a dead stream.
Deno.test("a compatibility stream gets heartbeats while a step streams only text it has no message for", async () => {
  const server = await startTestServer([
    "--offline-delay-ms",
    "1500",
    "--heartbeat-ms",
    "100",
    "--compat-hold-ms",
    "0",
  ]);
  try {
    const id = await startJob(server.url, "Quiet steps");
    const stream = await openProgress(`${server.url}/progress/${id}`);
    await stream.readUntil((m) => m.step === "outline");
    // The sections stream their text in bursts 50 ms apart for 1.5 s before the first is done.
    const seen = await stream.readUntil((m) => m.step === "content");
    const heartbeats = seen.filter((m) => m.heartbeat === true).length;
    assert.ok(
      heartbeats >= 3,
      `${heartbeats} heartbeats while the sections streamed for 1.5 s: ${JSON.stringify(seen)}`,
    );
    await stream.close();
  } finally {
    await server.shutdown();
  }
});
