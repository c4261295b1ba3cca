import assert from "node:assert/strict";
import { collectEvents, readSse, type SseEvent } from "../testing/sse_client.ts";
import { startService } from "./service_process.ts";
import { makeTestDir } from "./test_dir.ts";

interface Snapshot {
  id: string;
  status: string;
  progress: number;
  article?: string;
  lastEventId: number;
  error?: string;
}

async function submit(url: string, topic: string): Promise<string> {
  const response = await fetch(`${url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  });
  assert.equal(response.status, 202);
  return ((await response.json()) as Snapshot).id;
}

async function job(url: string, id: string): Promise<Snapshot> {
  const response = await fetch(`${url}/api/jobs/${id}`);
  assert.equal(response.status, 200, `GET job ${id}`);
  return await response.json();
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const events = (url: string, id: string, lastEventId?: number) =>
  collectEvents(
    `${url}/api/jobs/${id}/events`,
    lastEventId === undefined ? {} : { headers: { "last-event-id": String(lastEventId) } },
  );

function assertContiguous(log: SseEvent[], from = 1): void {
  assert.deepEqual(log.map((e) => Number(e.id)), log.map((_, i) => i + from), "ids run on by one");
}

const FLAGS = ["--offline-delay-ms", "400", "--max-concurrent-jobs", "2", "--log-level", "warn"];

Deno.test("jobs survive SIGKILL: finished ones unchanged, running ones resumed, streams replay", async () => {
  await using dir = await makeTestDir("restart");
  const flags = [...FLAGS, "--data-dir", dir.path];
  let finishedBefore: Snapshot;
  let finishedLog: SseEvent[];
  const ids: string[] = [];
  let seenBeforeKill: SseEvent[] = [];
  {
    await using service = await startService(flags);
    const done = await submit(service.url, "durable tea");
    finishedLog = await events(service.url, done);
    assert.equal(finishedLog.at(-1)?.event, "complete");
    finishedBefore = await job(service.url, done);
    ids.push(done);
    for (const topic of ["first running", "second running", "still queued"]) {
      ids.push(await submit(service.url, topic));
    }
    // A browser watching the first running job, until the crash cuts it off.
    const seen: SseEvent[] = [];
    const watching = (async () => {
      const response = await fetch(`${service.url}/api/jobs/${ids[1]}/events`);
      try {
        for await (const event of readSse(response.body!)) {
          if (event.comment === undefined) seen.push(event);
        }
      } catch {
        // the process is killed under it
      }
    })();
    await until("a section written", async () => (await job(service.url, ids[1]!)).progress >= 44);
    // Accepted (202) a moment before the crash: it must not vanish.
    ids.push(await submit(service.url, "accepted just before the crash"));
    service.child.kill("SIGKILL");
    await service.child.status;
    await watching;
    seenBeforeKill = [...seen];
  }
  assert.ok(seenBeforeKill.length > 0, "the watcher saw events before the crash");

  await using service = await startService(flags);
  const url = service.url;
  // The finished job and its whole history are unchanged, with the same ids.
  assert.deepEqual(await job(url, ids[0]!), finishedBefore);
  assert.deepEqual(await events(url, ids[0]!), finishedLog);
  assert.deepEqual(await events(url, ids[0]!, 3), finishedLog.slice(3));

  // The watcher reconnects with the Last-Event-ID it had before the crash.
  const lastSeen = Number(seenBeforeKill.at(-1)!.id);
  const resumedStream = await events(url, ids[1]!, lastSeen);
  assert.equal(Number(resumedStream[0]?.id), lastSeen + 1);
  assert.equal(resumedStream.at(-1)?.event, "complete");

  for (const id of ids.slice(1)) {
    const log = await events(url, id);
    assertContiguous(log);
    assert.equal(log.at(-1)?.event, "complete", `job ${id} completed`);
    const snapshot = await job(url, id);
    assert.equal(snapshot.status, "completed");
    assert.match(snapshot.article ?? "", /friendly guide/);
    assert.equal(snapshot.lastEventId, log.length);
    // What the watcher saw before the crash is still the start of the log.
    if (id === ids[1]) {
      assert.deepEqual(log.slice(0, seenBeforeKill.length), seenBeforeKill);
      const outlines = log.filter((e) =>
        e.event === "progress" && JSON.parse(e.data).step === "outline"
      );
      assert.equal(outlines.length, 1, "the outline was not written twice");
      const sections = log.filter((e) =>
        e.event === "progress" && JSON.parse(e.data).step === "content"
      ).map((e) => JSON.parse(e.data).index);
      assert.equal(sections.length, 3);
      assert.equal(new Set(sections).size, 3, "no section was written twice");
      const resumed = log.find((e) => e.event === "status" && JSON.parse(e.data).resumed === true);
      assert.ok(resumed, "watchers are told the job was resumed");
    }
  }
});

Deno.test("a second process on the same DATA_DIR is refused, and a SIGKILLed holder does not block the next start", async () => {
  // The guard is a lock file beside the database, held for the process's life: the database
  // itself is shared with the WAL checkpoint worker's connection.
  await using dir = await makeTestDir("lock");
  const flags = ["--data-dir", dir.path, "--log-level", "warn"];
  let id: string;
  {
    await using first = await startService(flags);
    id = await submit(first.url, "locked tea");
    await assert.rejects(
      () => startService(flags),
      /Cannot open the job store at .*quillflow\.db: another process is using it \(the database is locked\)/,
    );
    first.child.kill("SIGKILL");
    await first.child.status;
  }
  // The crashed process's lock file is still there; its lock is not.
  assert.ok((await Deno.stat(`${dir.path}/quillflow.db.lock`)).isFile);
  await using again = await startService(flags);
  const log = await events(again.url, id);
  assertContiguous(log);
  assert.equal(log.at(-1)?.event, "complete");
});

Deno.test("a graceful stop leaves running jobs to the next start instead of cancelling them", async () => {
  await using dir = await makeTestDir("graceful");
  const flags = [...FLAGS, "--data-dir", dir.path, "--shutdown-grace-ms", "0"];
  let id: string;
  {
    await using service = await startService(flags);
    id = await submit(service.url, "paused tea");
    await until("the outline", async () => (await job(service.url, id)).progress >= 33);
    service.child.kill("SIGTERM");
    assert.equal((await service.child.status).code, 0);
  }
  await using service = await startService(flags);
  const log = await events(service.url, id);
  assertContiguous(log);
  assert.equal(log.at(-1)?.event, "complete");
  assert.equal(log.filter((e) => e.event === "cancelled").length, 0);
});

Deno.test("a corrupted data file stops start-up with a clear error", async () => {
  await using dir = await makeTestDir("corrupt");
  await Deno.writeTextFile(`${dir.path}/quillflow.db`, "not a database at all\n".repeat(100));
  await assert.rejects(
    () => startService(["--data-dir", dir.path, "--log-level", "warn"]),
    /Cannot open the job store at .*quillflow\.db: file is not a database/,
  );
});

Deno.test("an unreadable job record stops start-up with a clear error", async () => {
  await using dir = await makeTestDir("bad-record");
  const { DatabaseSync } = await import("node:sqlite");
  {
    await using service = await startService(["--data-dir", dir.path, "--log-level", "warn"]);
    service.child.kill("SIGTERM");
    await service.child.status;
  }
  const db = new DatabaseSync(`${dir.path}/quillflow.db`);
  db.prepare("INSERT INTO jobs (id, created_at, status, record) VALUES (?, ?, ?, ?)")
    .run("x", 1, "running", "{not json");
  db.close();
  await assert.rejects(
    () => startService(["--data-dir", dir.path, "--log-level", "warn"]),
    /Cannot take up the jobs kept in the store: The job store holds an unreadable job record/,
  );
});
