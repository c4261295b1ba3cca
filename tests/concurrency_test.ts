import assert from "node:assert/strict";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer, submit } from "./_server.ts";

Deno.test("50 jobs at once all complete, each stream well-formed", async () => {
  const server = await startTestServer(["--offline-delay-ms", "10", "--max-concurrent-jobs", "8"]);
  try {
    const jobs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => submit(server.url, `Topic number ${i}`)),
    );
    assert.equal(new Set(jobs.map((j) => j.id)).size, 50);
    const streams = await Promise.all(
      jobs.map((job) => collectEvents(`${server.url}/api/jobs/${job.id}/events`)),
    );
    streams.forEach((events, i) => {
      events.forEach((event, k) => assert.equal(event.id, String(k + 1)));
      const last = events.at(-1)!;
      assert.equal(last.event, "complete");
      assert.match(JSON.parse(last.data).article, new RegExp(`Topic number ${i}\\b`));
      assert.equal(events.filter((e) => e.event === "complete").length, 1);
    });
    const list = await (await fetch(`${server.url}/api/jobs?limit=100`)).json();
    assert.equal(list.jobs.filter((j: { status: string }) => j.status === "completed").length, 50);
  } finally {
    await server.shutdown();
  }
});
