import assert from "node:assert/strict";
import { collectEvents, readSse, type SseEvent } from "../testing/sse_client.ts";
import { startTestServer, submit } from "./_server.ts";

const TERMINAL = new Set(["complete", "error", "cancelled"]);

/** Checks the event rules every native stream must keep, and returns the parsed data. */
function assertWellFormed(events: SseEvent[]): Record<string, unknown>[] {
  assert.ok(events.length > 0, "no events");
  const data = events.map((e) => JSON.parse(e.data) as Record<string, unknown>);
  events.forEach((event, i) => assert.equal(event.id, String(i + 1), "ids run 1, 2, 3, …"));
  let last = 0;
  events.forEach((event, i) => {
    const progress = data[i]?.progress;
    if (typeof progress === "number") {
      assert.ok(
        Number.isInteger(progress) && progress >= last,
        `progress decreased at ${event.id}`,
      );
      assert.ok(progress < 100 || event.event === "complete", "100 only at complete");
      last = progress;
    }
  });
  const terminal = events.filter((e) => TERMINAL.has(e.event));
  assert.equal(terminal.length, 1, "exactly one terminal event");
  assert.equal(events.at(-1), terminal[0], "the terminal event is last");
  return data;
}

Deno.test("native API: submit, stream to complete, read the job", async (t) => {
  const server = await startTestServer(["--offline-delay-ms", "20"]);
  try {
    const response = await fetch(`${server.url}/api/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ topic: "  The history of tea  " }),
    });
    assert.equal(response.status, 202);
    const job = await response.json();
    assert.equal(response.headers.get("location"), `/api/jobs/${job.id}`);
    // A version 7 UUID: its first 48 bits are the creation time in ms.
    assert.match(job.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(parseInt(job.id.replaceAll("-", "").slice(0, 12), 16), Date.parse(job.createdAt));
    assert.equal(job.topic, "The history of tea");
    assert.ok(["queued", "running"].includes(job.status));
    assert.equal(job.provider, "offline");
    assert.equal(job.model, null);
    assert.ok(!Number.isNaN(Date.parse(job.createdAt)));

    const stream = await fetch(`${server.url}/api/jobs/${job.id}/events`);
    await t.step("the stream has the SSE headers proxies need", () => {
      assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8");
      assert.equal(stream.headers.get("cache-control"), "no-cache");
      assert.equal(stream.headers.get("x-accel-buffering"), "no");
    });
    const events = (await Array.fromAsync(readSse(stream.body!))).filter((e) =>
      e.comment === undefined
    );
    const data = assertWellFormed(events);

    await t.step("events follow the workflow: status, outline, sections, style, complete", () => {
      assert.deepEqual(data[0], { status: "queued", progress: 0 });
      assert.equal(events[0]?.event, "status");
      assert.ok(events.some((e, i) => e.event === "status" && data[i]?.status === "running"));
      const progress = events.map((e, i) => ({ e, d: data[i]! })).filter(({ e }) =>
        e.event === "progress"
      );
      const outline = progress.find(({ d }) => d.step === "outline")!.d;
      assert.equal(outline.progress, 33);
      const sections = outline.sections as string[];
      assert.equal(sections.length, 3);
      const content = progress.filter(({ d }) => d.step === "content").map(({ d }) => d);
      assert.deepEqual(content.map((d) => d.completed), [1, 2, 3]);
      for (const d of content) {
        assert.equal(d.total, 3);
        assert.equal(d.progress, 33 + Math.floor((d.completed as number) * 33 / 3));
        assert.equal(d.section, sections[d.index as number]);
      }
      const style = progress.filter(({ d }) => d.step === "style").map(({ d }) => d.stage);
      assert.deepEqual(style, ["started", "finished"]);
      const complete = data.at(-1)!;
      assert.equal(events.at(-1)?.event, "complete");
      assert.equal(complete.progress, 100);
      assert.deepEqual(complete.sections, sections);
      assert.match(complete.article as string, /tea/i);
    });

    await t.step("streamed deltas add up to the text each step wrote", () => {
      const deltas = events.map((e, i) => ({ e, d: data[i]! })).filter(({ e }) =>
        e.event === "delta"
      );
      assert.ok(deltas.length >= 5, "text streams in several deltas");
      const styled = deltas.filter(({ d }) => d.step === "style").map(({ d }) => d.text).join("");
      assert.equal(styled.trim(), data.at(-1)!.article as string);
      for (let index = 0; index < 3; index++) {
        const text = deltas.filter(({ d }) => d.step === "content" && d.index === index).map((
          { d },
        ) => d.text).join("");
        assert.ok(text.length > 200, `section ${index} streamed`);
        assert.ok(
          (data.at(-1)!.article as string).includes(text.trim()),
          `section ${index} is in the article`,
        );
      }
      // Coalesced: far fewer events than the writer's chunks of a few words.
      const words = styled.split(/\s+/).length;
      assert.ok(deltas.filter(({ d }) => d.step === "style").length < words / 4);
    });

    await t.step("the job reads back completed with its article", async () => {
      const read = await (await fetch(`${server.url}/api/jobs/${job.id}`)).json();
      assert.equal(read.status, "completed");
      assert.equal(read.progress, 100);
      assert.equal(read.article, data.at(-1)!.article);
      assert.deepEqual(read.sections, data.at(-1)!.sections);
      assert.ok(Date.parse(read.finishedAt) >= Date.parse(read.startedAt));
      assert.equal(read.lastEventId, events.length);
    });

    await t.step(
      "a client that connects after the end replays every event, then the stream ends",
      async () => {
        const replay = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
        assert.deepEqual(
          replay.map((e) => [e.id, e.event, e.data]),
          events.map((e) => [e.id, e.event, e.data]),
        );
      },
    );

    await t.step("cancelling a finished job is a 409", async () => {
      const res = await fetch(`${server.url}/api/jobs/${job.id}`, { method: "DELETE" });
      assert.equal(res.status, 409);
      assert.equal((await res.json()).error.code, "job_finished");
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("native API: topic forms, listing and errors", async (t) => {
  const server = await startTestServer();
  const base = server.url;
  try {
    await t.step("a form field topic is accepted, urlencoded and multipart", async () => {
      const form = await fetch(`${base}/api/jobs`, {
        method: "POST",
        body: new URLSearchParams({ topic: "Form topic" }),
      });
      assert.equal(form.status, 202);
      assert.equal((await form.json()).topic, "Form topic");
      const data = new FormData();
      data.set("topic", "Multipart topic");
      const multi = await fetch(`${base}/api/jobs`, { method: "POST", body: data });
      assert.equal(multi.status, 202);
      assert.equal((await multi.json()).topic, "Multipart topic");
    });

    await t.step("GET /api/jobs lists newest first and honours limit", async () => {
      const a = await submit(base, "first");
      const b = await submit(base, "second");
      const list = await (await fetch(`${base}/api/jobs?limit=2`)).json();
      assert.deepEqual(list.jobs.map((j: { id: string }) => j.id), [b.id, a.id]);
      const all = await (await fetch(`${base}/api/jobs`)).json();
      assert.equal(all.jobs.length, 4);
      for (const bad of ["0", "101", "abc", "-1", "1.5", ""]) {
        const res = await fetch(`${base}/api/jobs?limit=${bad}`);
        assert.equal(res.status, 400, `limit=${bad}`);
        assert.equal((await res.json()).error.code, "invalid_limit");
      }
    });

    await t.step("errors are JSON with the right status", async () => {
      const cases: [string, RequestInit, number, string][] = [
        [`/api/jobs/00000000-0000-4000-8000-000000000000`, {}, 404, "not_found"],
        [`/api/jobs/not-a-uuid`, {}, 404, "not_found"],
        [`/api/jobs/00000000-0000-4000-8000-000000000000/events`, {}, 404, "not_found"],
        [
          `/api/jobs`,
          { method: "POST", headers: { "content-type": "application/json" }, body: "{bad" },
          400,
          "invalid_json",
        ],
        [
          `/api/jobs`,
          { method: "POST", headers: { "content-type": "application/json" }, body: "{}" },
          400,
          "missing_topic",
        ],
        [
          `/api/jobs`,
          { method: "POST", headers: { "content-type": "application/json" }, body: '{"topic":""}' },
          400,
          "invalid_topic",
        ],
        [
          `/api/jobs`,
          { method: "POST", headers: { "content-type": "text/plain" }, body: "tea" },
          415,
          "unsupported_media_type",
        ],
        [`/api/jobs`, { method: "PUT" }, 405, "method_not_allowed"],
        [`/nowhere`, {}, 404, "not_found"],
      ];
      for (const [path, init, status, code] of cases) {
        const res = await fetch(base + path, init);
        assert.equal(res.status, status, `${init.method ?? "GET"} ${path}`);
        assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
        assert.equal((await res.json()).error.code, code, `${init.method ?? "GET"} ${path}`);
      }
      const wrong = await fetch(`${base}/api/jobs`, { method: "PUT" });
      await wrong.body?.cancel();
      assert.equal(wrong.headers.get("allow"), "POST, GET, HEAD");
    });

    await t.step("GET /healthz answers ok", async () => {
      assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: "ok" });
    });

    await t.step("GET / serves the page", async () => {
      const res = await fetch(`${base}/`);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      assert.match(await res.text(), /Quillflow/);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("compatibility routes give the original example's exact shapes", async (t) => {
  // No hold after the last message (tests/compat_test.ts covers it): the stream is read whole.
  const server = await startTestServer(["--offline-delay-ms", "5", "--compat-hold-ms", "0"]);
  try {
    const started = await fetch(`${server.url}/start-job`, {
      method: "POST",
      body: new URLSearchParams({ topic: "Solar power" }),
    });
    assert.equal(started.status, 200);
    const body = await started.json();
    assert.deepEqual(Object.keys(body).sort(), ["job_id", "status", "topic"]);
    assert.equal(body.topic, "Solar power");
    assert.equal(body.status, "started");

    const response = await fetch(`${server.url}/progress/${body.job_id}`);
    assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const raw = await response.text();
    await t.step("data-only messages: no event: or id: fields", () => {
      for (const line of raw.split("\n")) assert.ok(line === "" || line.startsWith("data: "), line);
    });
    const messages = raw.split("\n").filter((l) => l.startsWith("data: ")).map((l) =>
      JSON.parse(l.slice(6))
    );
    await t.step("connected, outline, one content per section, style, complete", () => {
      assert.deepEqual(messages[0], {
        step: "connected",
        progress: 0,
        data: { message: "Connected to job progress" },
      });
      assert.equal(messages[1].step, "outline");
      assert.equal(messages[1].progress, 33);
      const sections = messages[1].data.sections as string[];
      assert.equal(sections.length, 3);
      const content = messages.filter((m) => m.step === "content");
      assert.equal(content.length, 3);
      content.forEach((m, i) => {
        assert.deepEqual(Object.keys(m.data).sort(), [
          "completed_sections",
          "section",
          "total_sections",
        ]);
        assert.equal(m.data.completed_sections, i + 1);
        assert.equal(m.data.total_sections, 3);
        assert.equal(m.progress, 33 + Math.floor((i + 1) * 33 / 3));
        assert.ok(sections.includes(m.data.section));
      });
      const style = messages.filter((m) => m.step === "style");
      assert.deepEqual(style, [{ step: "style", progress: 66, data: {} }]);
      const last = messages.at(-1);
      assert.equal(last.step, "complete");
      assert.equal(last.progress, 100);
      assert.deepEqual(Object.keys(last.data), ["final_article"]);
      assert.match(last.data.final_article, /Solar power/);
    });

    await t.step("an unknown job gets {error: Job not found} and the stream ends", async () => {
      const res = await fetch(`${server.url}/progress/unknown-job`);
      assert.equal(await res.text(), 'data: {"error":"Job not found"}\n\n');
    });
  } finally {
    await server.shutdown();
  }
});
