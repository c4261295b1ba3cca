/**
 * The typed client (`src/client.ts`) against the real service over loopback: what it returns is
 * what `/openapi.json` describes, its errors are typed, and its event iterator loses and repeats
 * nothing when a proxy cuts its connections or the service is killed and started again. Also
 * `quillflow generate --server`, which uses it.
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { type JobStreamEvent, QuillflowClient, QuillflowError } from "../src/client/client.ts";
import { parseCommand, runGenerate } from "../src/cli.ts";
import { loadConfig } from "../src/config.ts";
import { childEnv } from "../testing/child_env.ts";
import { OpenApiValidator } from "../testing/openapi_validator.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { startTcpProxy } from "../testing/tcp_proxy.ts";
import { startTestServer, waitFor } from "./_server.ts";
import { startService } from "./service_process.ts";
import { makeTestDir } from "./test_dir.ts";

const UNKNOWN_ID = "0190f5a2-7c1e-7b3a-9d2e-5f6a7b8c9d0e";
/** Nothing listens on port 1 (tcpmux), so connecting there is refused at once. */
const NOWHERE = "127.0.0.1:1";

/** Reconnect fast: these tests cut connections on purpose. */
const FAST = { minTimeout: 10, maxTimeout: 200 };

const hostOf = (url: string) => new URL(url).host;

/** The job's whole log as a plain reader sees it, for comparison. */
async function wholeLog(baseUrl: string, id: string) {
  const events = await collectEvents(`${baseUrl}/api/jobs/${id}/events`);
  return events.map((e) => ({ id: Number(e.id), type: e.event, data: JSON.parse(e.data) }));
}

/** Asserts the rules of a job's stream: ids 1, 2, 3, … without a gap, one terminal event last. */
function assertWholeRun(events: JobStreamEvent[], terminal: string) {
  assert.deepEqual(events.map((e) => e.id), events.map((_, i) => i + 1), "ids 1, 2, 3, …");
  assert.equal(events.at(-1)?.type, terminal);
  const ends = events.filter((e) => ["complete", "error", "cancelled"].includes(e.type));
  assert.equal(ends.length, 1, "one terminal event");
}

async function rejection(promise: Promise<unknown>): Promise<QuillflowError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof QuillflowError, `a QuillflowError, not ${error}`);
    return error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

Deno.test("QuillflowClient returns what /openapi.json describes", async (t) => {
  const server = await startTestServer(["--offline-delay-ms", "5"]);
  const slow = await startTestServer(["--offline-delay-ms", "60000"]);
  try {
    const validator = await OpenApiValidator.fetch(server.url);
    const sent: Headers[] = [];
    const recording = ((input: RequestInfo | URL, init?: RequestInit) => {
      sent.push(new Headers(init?.headers));
      return fetch(input, init);
    }) as typeof fetch;
    const client = new QuillflowClient(server.url, { fetch: recording });

    const job = await client.submit("The history of tea", { idempotencyKey: "tea-1" });
    await t.step("submit: a Job, the Idempotency-Key header sent", () => {
      validator.assertSchema("Job", job);
      assert.equal(job.topic, "The history of tea");
      assert.equal(sent.at(-1)?.get("idempotency-key"), "tea-1");
    });

    const events = await Array.fromAsync(client.events(job.id));
    await t.step(
      "events: every event described, the whole log once, ending at complete",
      async () => {
        for (const event of events) {
          validator.assertSchema("JobStreamMessage", {
            event: event.type,
            id: String(event.id),
            data: event.data,
          });
        }
        assertWholeRun(events, "complete");
        assert.deepEqual(events, await wholeLog(server.url, job.id));
        assert.equal(sent.at(-1)?.get("accept"), "text/event-stream");
      },
    );

    await t.step("events after lastEventId: the rest", async () => {
      assert.deepEqual(
        await Array.fromAsync(client.events(job.id, { lastEventId: 4 })),
        events.slice(4),
      );
    });

    await t.step("get and list: Jobs", async () => {
      const read = await client.get(job.id);
      validator.assertSchema("Job", read);
      assert.equal(read.status, "completed");
      assert.equal(read.article, (events.at(-1)?.data as { article: string }).article);
      const jobs = await client.list({ limit: 5 });
      validator.assertSchema("JobList", { jobs });
      assert.deepEqual(jobs.map((j) => j.id), [job.id]);
      assert.equal((await client.list()).length, 1);
    });

    await t.step("cancel: the Job as cancelled, and its events end at cancelled", async () => {
      const slowClient = new QuillflowClient(slow.url);
      const running = await slowClient.submit("Slow tea");
      const cancelled = await slowClient.cancel(running.id);
      validator.assertSchema("Job", cancelled);
      assert.equal(cancelled.status, "cancelled");
      const ended = await Array.fromAsync(slowClient.events(running.id));
      assertWholeRun(ended, "cancelled");
      for (const event of ended) {
        validator.assertSchema("JobStreamMessage", {
          event: event.type,
          id: String(event.id),
          data: event.data,
        });
      }
    });
  } finally {
    await server.shutdown();
    await slow.shutdown();
  }
});

Deno.test("QuillflowClient errors are typed: status, code, retryAfter", async (t) => {
  const server = await startTestServer([
    "--offline-delay-ms",
    "60000",
    "--max-concurrent-jobs",
    "1",
    "--max-queued-jobs",
    "0",
    "--api-token",
    "s3cret",
  ]);
  try {
    const client = new QuillflowClient(server.url, { token: "s3cret" });
    await t.step("400 for a bad topic", async () => {
      const error = await rejection(client.submit("   "));
      assert.equal(error.status, 400);
      assert.equal(error.code, "invalid_topic");
      assert.equal(error.retryable, false);
    });
    await t.step("404 for an unknown job", async () => {
      const error = await rejection(client.get(UNKNOWN_ID));
      assert.deepEqual([error.status, error.code], [404, "not_found"]);
    });
    const running = await client.submit("Running tea");
    await t.step("429 with retryAfter when the line is full", async () => {
      const error = await rejection(client.submit("One too many"));
      assert.deepEqual([error.status, error.code, error.retryAfter], [429, "queue_full", 5]);
      assert.equal(error.retryable, true);
    });
    await t.step("409 for cancelling a finished job", async () => {
      await client.cancel(running.id);
      const error = await rejection(client.cancel(running.id));
      assert.deepEqual([error.status, error.code], [409, "job_finished"]);
    });
    await t.step("401 without the token", async () => {
      const error = await rejection(new QuillflowClient(server.url).list());
      assert.deepEqual([error.status, error.code], [401, "unauthorized"]);
    });
    await t.step("events: aborting the signal mid-stream ends it with the reason", async () => {
      const controller = new AbortController();
      const seen: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const event of client.events(running.id, { signal: controller.signal })) {
            seen.push(event.type);
            controller.abort(new Error("no longer wanted"));
          }
        })(),
        /no longer wanted/,
      );
      assert.deepEqual(seen, ["status"], "nothing after the abort");
    });
    await t.step("events: a 404 is thrown at once, without retrying", async () => {
      await using proxy = startTcpProxy({ upstream: hostOf(server.url) });
      const proxied = new QuillflowClient(proxy.url, { token: "s3cret" });
      const error = await rejection(Array.fromAsync(proxied.events(UNKNOWN_ID, FAST)));
      assert.deepEqual([error.status, error.code], [404, "not_found"]);
      assert.equal(proxy.connections, 1);
    });
  } finally {
    await server.shutdown();
  }
  await t.step("no server: status 0, code network; events give up after maxAttempts", async () => {
    await using proxy = startTcpProxy({ upstream: NOWHERE });
    const client = new QuillflowClient(proxy.url);
    const error = await rejection(client.list());
    assert.deepEqual([error.status, error.code], [0, "network"]);
    const before = proxy.connections;
    const gaveUp = await rejection(
      Array.fromAsync(client.events(UNKNOWN_ID, { ...FAST, maxAttempts: 3 })),
    );
    assert.equal(gaveUp.code, "network");
    assert.equal(proxy.connections - before, 3, "three attempts");
  });
  await t.step("an aborted signal ends events with its reason", async () => {
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    const client = new QuillflowClient("http://127.0.0.1:9");
    await assert.rejects(Array.fromAsync(client.events(UNKNOWN_ID, controller)), /stop/);
  });
});

Deno.test("QuillflowClient.events resumes after cut connections: nothing lost or repeated", async () => {
  const server = await startTestServer(["--offline-delay-ms", "150"]);
  // Cut five connections: inside the response headers, then at points inside the events. Each
  // budget is smaller than the complete event alone (the article, about 2.5 kB), so every cut
  // comes before the job's end reaches the client, however the events are timed.
  const cutsAt = [40, 600, 1_200, 700, 1_500];
  await using proxy = startTcpProxy({
    upstream: hostOf(server.url),
    cutAfter: (n) => cutsAt[n],
  });
  try {
    const job = await new QuillflowClient(server.url).submit("Interrupted tea");
    const client = new QuillflowClient(proxy.url);
    const events = await Array.fromAsync(client.events(job.id, FAST));
    assert.equal(proxy.cuts, cutsAt.length, "every planned cut happened");
    const last = events.at(-1);
    assert.ok(last?.type === "complete" && last.data.article.length > 1_500, "the cuts' premise");
    assertWholeRun(events, "complete");
    assert.deepEqual(events, await wholeLog(server.url, job.id));
  } finally {
    await server.shutdown();
  }
});

Deno.test("QuillflowClient.events resumes across a kill -9 and restart on the sqlite store", async () => {
  await using dir = await makeTestDir("client-restart");
  // Slow enough (a second a call) that the job is still running when the kill comes.
  const flags = ["--store", "sqlite", "--data-dir", dir.path, "--offline-delay-ms", "1000"];
  let service = await startService(flags);
  try {
    await using proxy = startTcpProxy({ upstream: hostOf(service.url) });
    const job = await new QuillflowClient(service.url).submit("Tea across a crash");
    const client = new QuillflowClient(proxy.url);
    const events: JobStreamEvent[] = [];
    let restarted = false;
    for await (
      const event of client.events(job.id, { minTimeout: 50, maxTimeout: 500, maxAttempts: 100 })
    ) {
      events.push(event);
      if (!restarted && event.type === "progress") {
        // Mid-job, after the outline: kill the service, start it again on the same data.
        restarted = true;
        service.child.kill("SIGKILL");
        await service.child.status;
        await service[Symbol.asyncDispose]();
        service = await startService(flags);
        proxy.setUpstream(hostOf(service.url));
      }
    }
    assert.ok(restarted, "the service was restarted mid-job");
    assertWholeRun(events, "complete");
    const log = await wholeLog(service.url, job.id);
    assert.ok(
      log.some((e) => e.type === "status" && e.data.resumed === true),
      "the job was taken up again after the restart",
    );
    assert.deepEqual(events, log);
  } finally {
    await service[Symbol.asyncDispose]();
  }
});

/** `quillflow args` with the generate task's permissions, from a clean environment. */
function quillflow(args: string[], env: Record<string, string> = {}): Deno.Command {
  const words = denoJson.tasks.generate.split(/\s+/);
  const flags = words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: childEnv({ LOG_LEVEL: "warn", ...env }),
  });
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("quillflow generate --server runs the job on a running service", async (t) => {
  const server = await startTestServer(["--offline-delay-ms", "5", "--api-token", "s3cret"]);
  try {
    await t.step("the article on stdout, the progress bar's lines on stderr", async () => {
      const { code, stdout, stderr } = await quillflow(
        ["generate", "--server", server.url, "--token", "s3cret", "Remote tea"],
      ).output();
      const err = decode(stderr);
      assert.equal(code, 0, err);
      const [job] = await new QuillflowClient(server.url, { token: "s3cret" }).list({ limit: 1 });
      assert.equal(job?.topic, "Remote tea", "the job ran on the server");
      assert.equal(decode(stdout), `${job?.article?.trimEnd()}\n`);
      assert.match(err, / 33% step 1\/3 outline: 3 sections planned \(\d+\.\ds\)\n/);
      assert.match(err, /100% step 3\/3 done/);
    });
    await t.step("the token may come from API_TOKEN", async () => {
      const { code, stderr } = await quillflow(
        ["generate", `--server=${server.url}`, "Env tea", "--out", "/dev/null"],
        { API_TOKEN: "s3cret" },
      ).output();
      assert.equal(code, 0, decode(stderr));
    });
    await t.step("a wrong token: exit 1 and a clear message", async () => {
      const { code, stdout, stderr } = await quillflow(
        ["generate", "--server", server.url, "--token", "nope", "Refused tea"],
      ).output();
      assert.equal(code, 1);
      assert.equal(decode(stdout), "");
      assert.match(decode(stderr), /refused the token \(set it with --token or API_TOKEN\)/);
    });
  } finally {
    await server.shutdown();
  }
  await t.step("no service there: exit 1, saying so", async () => {
    await using proxy = startTcpProxy({ upstream: NOWHERE });
    const { code, stderr } = await quillflow(["generate", "--server", proxy.url, "Lost tea"])
      .output();
    assert.equal(code, 1);
    assert.match(decode(stderr), /generation failed: Cannot reach http:\/\/127\.0\.0\.1:\d+/);
  });
});

Deno.test("generate --server: an interrupt cancels the job on the service", async () => {
  const server = await startTestServer(["--offline-delay-ms", "60000"]);
  try {
    const { config } = loadConfig(() => undefined, []);
    const controller = new AbortController();
    let err = "";
    const exit = runGenerate(config, {
      topic: "Cancelled remotely",
      server: server.url,
      signal: controller.signal,
      tty: false,
      stderr: (text) => void (err += text),
      stdout: () => Promise.reject(new Error("no article expected")),
    });
    await waitFor(
      async () => {
        const [job] = await server.manager.list(1);
        return job?.status === "running";
      },
      20_000,
      "the job running on the service",
    );
    controller.abort();
    assert.equal(await exit, 130, err);
    const [job] = await server.manager.list(1);
    assert.equal(job?.status, "cancelled");
    assert.match(err, /cancelled; no article was written/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("parseCommand reads generate --server URL and --token", () => {
  const none = () => undefined;
  const command = parseCommand(
    ["generate", "--server", "http://10.0.0.5:8000", "--token=t0k", "tea"],
    none,
  );
  assert.ok(command.kind === "generate");
  assert.equal(command.server, "http://10.0.0.5:8000");
  assert.equal(command.token, "t0k");
  assert.equal(command.topic, "tea");
  assert.throws(() => parseCommand(["generate", "--token", "t", "tea"], none), /with --server/);
  assert.throws(
    () => parseCommand(["generate", "--server", "ftp://x", "tea"], none),
    /--server must be an http\(s\) URL/,
  );
  assert.throws(() => parseCommand(["generate", "tea", "--server"], none), /needs a value/);
  assert.throws(() => parseCommand(["--server", "http://x"], none), /belong to generate/);
});
