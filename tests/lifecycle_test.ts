import assert from "node:assert/strict";
import { collectEvents, readSse } from "../testing/sse_client.ts";
import { startOpenAiServer } from "../testing/openai_server.ts";
import { startTestServer, submit, waitFor } from "./_server.ts";
import { startService } from "./service_process.ts";

function openaiFlags(baseUrl: string, extra: string[] = []): string[] {
  return ["--openai-base-url", baseUrl, "--openai-api-key", "k", "--llm-model", "m", ...extra];
}

Deno.test("cancel aborts the in-flight LLM request and ends the job cancelled", async (t) => {
  // Every call hangs until its client gives up.
  const llm = await startOpenAiServer({ script: () => ({ hang: true }) });
  const server = await startTestServer(openaiFlags(llm.baseUrl));
  try {
    const job = await submit(server.url, "Never finished");
    await waitFor(() => llm.requests.length === 1, 5_000, "the outline request");
    const watcher = collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    const res = await fetch(`${server.url}/api/jobs/${job.id}`, { method: "DELETE" });
    assert.equal(res.status, 202);
    assert.equal((await res.json()).status, "cancelled");
    await t.step("the OpenAI-compatible server sees its request aborted", async () => {
      await waitFor(() => llm.requests[0]!.aborted, 5_000, "the request to be aborted");
    });
    await t.step("watchers get a cancelled event and the stream ends", async () => {
      const events = await watcher;
      assert.equal(events.at(-1)?.event, "cancelled");
      assert.equal(events.at(-1)?.data, "{}");
    });
    await t.step(
      "nothing leaks: no running job, no stream, and a second cancel is a 409",
      async () => {
        await waitFor(() => server.manager.stats().running === 0, 5_000, "the slot to free");
        assert.equal(server.manager.stats().streams, 0);
        const again = await fetch(`${server.url}/api/jobs/${job.id}`, { method: "DELETE" });
        assert.equal(again.status, 409);
        await again.body?.cancel();
        assert.equal(llm.requests.length, 1, "no retry after cancel");
      },
    );
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("admission: MAX_CONCURRENT_JOBS run, the rest wait FIFO, beyond MAX_QUEUED_JOBS is a 429", async (t) => {
  const llm = await startOpenAiServer({ script: () => ({ hang: true }) });
  const server = await startTestServer(
    openaiFlags(llm.baseUrl, ["--max-concurrent-jobs", "2", "--max-queued-jobs", "3"]),
  );
  try {
    const jobs: { id: string }[] = [];
    for (let i = 0; i < 5; i++) jobs.push(await submit(server.url, `Job ${i}`));
    await t.step("two run, three wait as queued", async () => {
      const statuses = await Promise.all(
        jobs.map(async (j) =>
          (await (await fetch(`${server.url}/api/jobs/${j.id}`)).json()).status
        ),
      );
      assert.deepEqual(statuses, ["running", "running", "queued", "queued", "queued"]);
      assert.deepEqual(server.manager.stats(), {
        ...server.manager.stats(),
        running: 2,
        queued: 3,
      });
    });
    await t.step("the sixth gets 429 with Retry-After", async () => {
      const res = await fetch(`${server.url}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "one too many" }),
      });
      assert.equal(res.status, 429);
      assert.match(res.headers.get("retry-after") ?? "", /^\d+$/);
      assert.equal((await res.json()).error.code, "queue_full");
    });
    await t.step("a freed slot goes to the oldest waiting job", async () => {
      await fetch(`${server.url}/api/jobs/${jobs[0]!.id}`, { method: "DELETE" }).then((r) =>
        r.body?.cancel()
      );
      await waitFor(async () =>
        (await (await fetch(`${server.url}/api/jobs/${jobs[2]!.id}`)).json()).status === "running"
      );
      assert.equal(
        (await (await fetch(`${server.url}/api/jobs/${jobs[3]!.id}`)).json()).status,
        "queued",
      );
    });
    await t.step("cancelling a queued job removes it from the line", async () => {
      const res = await fetch(`${server.url}/api/jobs/${jobs[4]!.id}`, { method: "DELETE" });
      assert.equal((await res.json()).status, "cancelled");
      const events = await collectEvents(`${server.url}/api/jobs/${jobs[4]!.id}/events`);
      assert.deepEqual(events.map((e) => e.event), ["status", "cancelled"]);
    });
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("faults: retries spent fail the job with a clear error, and the service goes on", async (t) => {
  await t.step("a server that always answers 500", async () => {
    const llm = await startOpenAiServer({
      script: () => ({ status: 500, message: "model overloaded" }),
    });
    const server = await startTestServer(openaiFlags(llm.baseUrl, ["--llm-max-attempts", "3"]));
    try {
      const job = await submit(server.url, "Doomed");
      const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
      const last = events.at(-1)!;
      assert.equal(last.event, "error");
      const data = JSON.parse(last.data);
      assert.equal(data.step, "outline");
      assert.match(data.message, /outline step failed/i);
      assert.match(data.message, /500/);
      // Outline node: 3 attempts, each with the provider's 3 attempts.
      assert.equal(llm.requests.length, 9);
      const read = await (await fetch(`${server.url}/api/jobs/${job.id}`)).json();
      assert.equal(read.status, "failed");
      assert.equal(read.error, data.message);
      assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: "ok" });
    } finally {
      await server.shutdown();
      await llm.close();
    }
  });

  await t.step("a server that never answers times out per call, and is retried", async () => {
    const llm = await startOpenAiServer({
      script: (_r, n) => (n < 2 ? { hang: true } : undefined),
    });
    const server = await startTestServer(openaiFlags(llm.baseUrl, ["--llm-timeout-ms", "200"]));
    try {
      const job = await submit(server.url, "Slow model");
      const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
      assert.equal(events.at(-1)?.event, "complete");
      assert.ok(
        llm.requests[0]!.aborted && llm.requests[1]!.aborted,
        "timed-out requests were aborted",
      );
    } finally {
      await server.shutdown();
      await llm.close();
    }
  });

  await t.step(
    "an LLM that only returns malformed outlines is asked again, then the job fails clearly",
    async () => {
      const llm = await startOpenAiServer({ script: () => ({ content: "sections: [unclosed" }) });
      const server = await startTestServer(openaiFlags(llm.baseUrl));
      try {
        const job = await submit(server.url, "Bad outline");
        const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
        const data = JSON.parse(events.at(-1)!.data);
        assert.equal(events.at(-1)?.event, "error");
        assert.match(data.message, /outline step failed: Outline is not valid YAML/i);
        assert.equal(llm.requests.length, 3);
        // Another job on the same service still works once the LLM behaves.
        const other = await startTestServer();
        try {
          const ok = await submit(other.url, "Fine");
          assert.equal(
            (await collectEvents(`${other.url}/api/jobs/${ok.id}/events`)).at(-1)?.event,
            "complete",
          );
        } finally {
          await other.shutdown();
        }
      } finally {
        await server.shutdown();
        await llm.close();
      }
    },
  );
});

Deno.test("finished jobs are evicted after JOB_TTL, record and log", async () => {
  const server = await startTestServer(["--job-ttl", "300ms"]);
  try {
    const job = await submit(server.url, "Short-lived");
    assert.equal(
      (await collectEvents(`${server.url}/api/jobs/${job.id}/events`)).at(-1)?.event,
      "complete",
    );
    assert.equal(
      (await fetch(`${server.url}/api/jobs/${job.id}`).then((r) => r.json())).status,
      "completed",
    );
    await waitFor(
      async () =>
        (await fetch(`${server.url}/api/jobs/${job.id}`).then(async (
          r,
        ) => (await r.body?.cancel(), r.status))) === 404,
      5_000,
      "eviction",
    );
    const list = await (await fetch(`${server.url}/api/jobs`)).json();
    assert.deepEqual(list.jobs, []);
    const events = await fetch(`${server.url}/api/jobs/${job.id}/events`);
    assert.equal(events.status, 404);
    await events.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

/** The service as a child process with the `start` task's permissions, jobs in memory. */
function spawnService(flags: string[]) {
  return startService(["--log-level", "warn", "--store", "memory", ...flags]);
}

Deno.test("SIGTERM: stop accepting, let running jobs finish, end every stream, exit 0", async (t) => {
  await t.step("a job that fits in the grace period completes", async () => {
    await using service = await spawnService([
      "--offline-delay-ms",
      "150",
      "--shutdown-grace-ms",
      "10000",
    ]);
    const { child, url } = service;
    const job = await submit(url, "Finish me");
    const response = await fetch(`${url}/api/jobs/${job.id}/events`);
    const events = readSse(response.body!);
    await events.next(); // the stream is open
    child.kill("SIGTERM");
    const seen: string[] = [];
    for await (const event of events) if (event.comment === undefined) seen.push(event.event);
    assert.equal(seen.at(-1), "complete", seen.join(","));
    const status = await child.status;
    assert.equal(status.code, 0);
  });

  await t.step(
    "a job longer than the grace period is cancelled, streams get a final event",
    async () => {
      // Each LLM call takes an hour: waiting for the job instead of cancelling it would trip the
      // bounds on the stream's end and the exit (a hang detector, not a speed test).
      await using service = await spawnService([
        "--offline-delay-ms",
        "1h",
        "--shutdown-grace-ms",
        "200",
      ]);
      const { child, url } = service;
      let exited: Deno.CommandStatus | undefined;
      child.status.then((status) => exited = status);
      const job = await submit(url, "Too slow");
      const response = await fetch(`${url}/api/jobs/${job.id}/events`);
      const events = readSse(response.body!);
      await events.next();
      child.kill("SIGTERM");
      const seen: string[] = [];
      for await (const event of events) if (event.comment === undefined) seen.push(event.event);
      assert.equal(seen.at(-1), "cancelled", seen.join(","));
      await waitFor(() => exited !== undefined, 30_000, "the service to exit");
      assert.equal(exited?.code, 0);
    },
  );
});
