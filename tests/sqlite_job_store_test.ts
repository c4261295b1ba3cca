import assert from "node:assert/strict";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { jobRecord } from "../testing/job_records.ts";
import type { JobEvent } from "../src/core/job.ts";
import { SqliteJobStore, StoreOpenError } from "../src/store/sqlite_job_store.ts";
import { StoreUnavailableError } from "../src/core/store_unavailable_error.ts";
import { waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

function event(id: number, type: JobEvent["type"] = "progress"): JobEvent {
  return { id, type, data: { progress: id } };
}

Deno.test("SqliteJobStore keeps records and logs across close and reopen", async () => {
  await using dir = await makeTestDir("sqlite-store");
  const path = `${dir.path}/quillflow.db`;
  const first = SqliteJobStore.open(path);
  const a = jobRecord("a", { createdAt: 1, status: "completed" });
  a.article = "# A";
  a.lastEventId = 3;
  await first.put(a);
  await first.put(jobRecord("b", { createdAt: 2, status: "running" }));
  for (const id of [1, 2, 3]) await first.append("a", event(id, id === 3 ? "complete" : "status"));
  await first.append("b", event(1));
  await first.close();

  const second = SqliteJobStore.open(path);
  try {
    assert.equal((await second.get("a"))?.article, "# A");
    assert.deepEqual((await second.list(10)).map((r) => r.id), ["b", "a"]);
    assert.deepEqual((await second.events("a", 0, 10)).map((e) => [e.id, e.type]), [
      [1, "status"],
      [2, "status"],
      [3, "complete"],
    ]);
    assert.deepEqual(await second.events("a", 1, 1), [{
      id: 2,
      type: "status",
      data: { progress: 2 },
    }]);
    const open = await second.unfinished();
    assert.deepEqual(open.map((r) => r.id), ["b"]);
    // The log is ahead of the record (deltas do not rewrite it): recovery goes on from the log.
    assert.equal(open[0]?.lastEventId, 1);
  } finally {
    await second.close();
  }
});

Deno.test("SqliteJobStore shows records at once and events once written", async (t) => {
  const store = SqliteJobStore.open(":memory:", { flushMs: 60_000 });
  const grown: string[][] = [];
  store.onDurable((ids) => grown.push([...ids]));
  try {
    await t.step("events are readable after the flush that onDurable reports", async () => {
      // Writes resolve once written, so they are not awaited before the flush.
      const writes = [store.append("j", event(1)), store.append("j", event(2))];
      assert.deepEqual(await store.events("j", 0, 10), []);
      await store.flush();
      await Promise.all(writes);
      assert.deepEqual(grown, [["j"]]);
      writes.push(store.append("j", event(3)), store.append("j", event(4)));
      await store.flush();
      await Promise.all(writes);
      assert.deepEqual((await store.events("j", 0, 10)).map((e) => e.id), [1, 2, 3, 4]);
      assert.deepEqual((await store.events("j", 1, 2)).map((e) => e.id), [2, 3]);
      assert.deepEqual((await store.events("j", 3, 10)).map((e) => e.id), [4]);
      assert.deepEqual(await store.events("j", 4, 10), []);
    });
    await t.step("a buffered record wins over the stored one, and deletes hide both", async () => {
      const r = jobRecord("r", { createdAt: 5 });
      const writes = [store.put(r)];
      await store.flush();
      r.status = "completed";
      writes.push(store.put(r));
      assert.equal((await store.get("r"))?.status, "completed");
      assert.equal((await store.list(10))[0]?.status, "completed");
      writes.push(store.delete("r"), store.delete("j"));
      assert.equal(await store.get("r"), undefined);
      assert.deepEqual(await store.events("j", 0, 10), []);
      await store.flush();
      await Promise.all(writes);
      assert.equal(await store.get("r"), undefined);
      assert.deepEqual(await store.list(10), []);
    });
  } finally {
    await store.close();
  }
});

Deno.test("SqliteJobStore groups writes into few transactions and resolves them once written", async () => {
  const store = SqliteJobStore.open(":memory:", { flushMs: 5 });
  try {
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 500; i++) writes.push(store.append("j", event(i)));
    assert.equal(store.flushes, 0);
    await Promise.all(writes);
    assert.equal(store.flushes, 1);
    assert.equal((await store.events("j", 0, 1_000)).length, 500);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteJobStore.open() refuses unreadable files with a clear error", async (t) => {
  await using dir = await makeTestDir("sqlite-bad");
  await t.step("a file that is not a database", async () => {
    const path = `${dir.path}/garbage.db`;
    await Deno.writeTextFile(path, "this is not a database ".repeat(200));
    assert.throws(() => SqliteJobStore.open(path), (error: unknown) => {
      assert.ok(error instanceof StoreOpenError);
      assert.match(error.message, /Cannot open the job store at .*garbage\.db: .*not a database/);
      assert.match(error.message, /--store=memory/);
      return true;
    });
  });
  await t.step("a database with damaged pages", async () => {
    const path = `${dir.path}/damaged.db`;
    const store = SqliteJobStore.open(path);
    for (let i = 0; i < 50; i++) {
      await store.put({ ...jobRecord(`job-${i}`, { createdAt: i }), topic: "x".repeat(2_000) });
    }
    await store.close();
    const bytes = await Deno.readFile(path);
    // Keep the header (so it still looks like SQLite) and scribble over the pages after it.
    for (let i = 4_096 + 100; i < bytes.length; i += 7) bytes[i] = 0xff;
    await Deno.writeFile(path, bytes);
    for (const suffix of ["-wal", "-shm"]) await Deno.remove(path + suffix).catch(() => {});
    assert.throws(() => SqliteJobStore.open(path), StoreOpenError);
  });
  await t.step("a path that is a folder", () => {
    assert.throws(() => SqliteJobStore.open(dir.path), StoreOpenError);
  });
});

Deno.test("SqliteJobStore.open() refuses a file another store holds, saying another process uses it", async () => {
  await using dir = await makeTestDir("sqlite-lock");
  const path = `${dir.path}/quillflow.db`;
  const first = SqliteJobStore.open(path);
  try {
    assert.throws(() => SqliteJobStore.open(path), (error: unknown) => {
      assert.ok(error instanceof StoreOpenError);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, /another process is using it \(the database is locked\)/);
      assert.match(error.message, /Stop that process first/);
      assert.doesNotMatch(error.message, /Move the file aside/);
      return true;
    });
  } finally {
    await first.close();
  }
  // Closed, the lock is released: the next store opens the file.
  const second = SqliteJobStore.open(path);
  await second.close();
});

Deno.test("SqliteJobStore serves live readers from memory and older events from the file", async () => {
  const store = SqliteJobStore.open(":memory:", { flushMs: 1 });
  try {
    const writes: Promise<void>[] = [];
    for (let i = 1; i <= 600; i++) {
      writes.push(store.append("j", event(i)));
      if (i % 100 === 0) await Promise.all(writes);
    }
    await Promise.all(writes);
    const all = await store.events("j", 0, 1_000);
    assert.deepEqual(all.map((e) => e.id), Array.from({ length: 600 }, (_, i) => i + 1));
    assert.deepEqual((await store.events("j", 590, 5)).map((e) => e.id), [591, 592, 593, 594, 595]);
    assert.deepEqual((await store.events("j", 100, 2)).map((e) => e.id), [101, 102]);
    assert.deepEqual(await store.events("j", 600, 5), []);
  } finally {
    await store.close();
  }
});

Deno.test("SqliteJobStore writes a running job's record again only when its status changes", async () => {
  await using dir = await makeTestDir("sqlite-unchanged");
  const path = `${dir.path}/quillflow.db`;
  const store = SqliteJobStore.open(path, { flushMs: 1 });
  const r = jobRecord("r", { status: "running" });
  await store.put(r);
  assert.equal(store.flushes, 1);
  r.progress = 44;
  await store.put(r);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(store.flushes, 1, "the same status: no write");
  assert.equal((await store.get("r"))?.progress, 44, "read back from memory");
  assert.equal((await store.list(1))[0]?.progress, 44);
  r.status = "completed";
  r.progress = 100;
  await store.put(r);
  assert.equal(store.flushes, 2, "a new status is written");
  const s = jobRecord("s", { status: "running" });
  await store.put(s);
  s.progress = 77;
  await store.put(s);
  await store.close(); // writes what waited for a status change

  const reopened = SqliteJobStore.open(path);
  try {
    assert.equal((await reopened.get("r"))?.progress, 100);
    assert.equal((await reopened.get("s"))?.progress, 77);
  } finally {
    await reopened.close();
  }
});

Deno.test("SqliteJobStore takes up a schema 1 file: its events become batches of one", async () => {
  await using dir = await makeTestDir("sqlite-schema1");
  const path = `${dir.path}/quillflow.db`;
  const old = new DatabaseSync(path);
  old.exec(`
    PRAGMA journal_mode = WAL;
    CREATE TABLE jobs (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, status TEXT NOT NULL,
      record TEXT NOT NULL);
    CREATE TABLE events (job_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL,
      data TEXT NOT NULL, PRIMARY KEY (job_id, id));
    PRAGMA user_version = 1;
  `);
  const record = jobRecord("old", { status: "running", lastEventId: 2 });
  old.prepare("INSERT INTO jobs VALUES (?, ?, ?, ?)").run(
    "old",
    1,
    "running",
    JSON.stringify(record),
  );
  const insert = old.prepare("INSERT INTO events VALUES (?, ?, ?, ?)");
  insert.run("old", 1, "status", JSON.stringify({ status: "queued", progress: 0 }));
  insert.run("old", 2, "delta", JSON.stringify({ step: "outline", text: 'a\n"b"' }));
  old.close();

  const store = SqliteJobStore.open(path);
  try {
    assert.deepEqual(await store.events("old", 0, 10), [
      { id: 1, type: "status", data: { status: "queued", progress: 0 } },
      { id: 2, type: "delta", data: { step: "outline", text: 'a\n"b"' } },
    ]);
    assert.deepEqual((await store.unfinished()).map((r) => [r.id, r.lastEventId]), [["old", 2]]);
    await store.append("old", event(3));
    await store.append("old", event(4));
    await store.flush();
    assert.deepEqual((await store.events("old", 1, 2)).map((e) => e.id), [2, 3]);
  } finally {
    await store.close();
  }
  const reopened = SqliteJobStore.open(path);
  try {
    assert.deepEqual((await reopened.events("old", 0, 10)).map((e) => e.id), [1, 2, 3, 4]);
    assert.deepEqual((await reopened.events("old", 2, 1)).map((e) => e.id), [3]);
  } finally {
    await reopened.close();
  }
});

/** Fails, rather than hangs, when `promise` does not settle within `ms`. */
async function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("SqliteJobStore fails the writers of a batch it cannot write at once, keeps it, and writes it once there is room", async () => {
  await using dir = await makeTestDir("sqlite-full");
  let db: DatabaseSync | undefined;
  const errors: unknown[] = [];
  const store = SqliteJobStore.open(`${dir.path}/quillflow.db`, {
    openDatabase: (path) => db = new DatabaseSync(path),
    onError: (error) => errors.push(error),
  });
  const disk = diskOf(db as DatabaseSync);
  try {
    await store.put(jobRecord("before"));
    disk.fill();
    const record = jobRecord("r", { topic: "x".repeat(5_000) });
    const writes = [store.put(record), store.append("r", event(1)), store.append("r", event(2))];
    for (const write of writes) {
      await within(
        assert.rejects(write, (error: unknown) => {
          assert.ok(error instanceof StoreUnavailableError);
          assert.match(error.message, /cannot be written: database or disk is full/);
          assert.doesNotMatch(error.message, /quillflow\.db/, "no server path for clients");
          return true;
        }),
        "a write to a full file",
      );
    }
    assert.match(await store.health() ?? "", /cannot write: .*database or disk is full/);
    assert.deepEqual(await store.events("r", 0, 10), [], "not shown before it is written");
    assert.equal((await store.get("r"))?.topic, record.topic, "kept in the buffer");

    disk.free();
    await waitFor(async () => (await store.events("r", 0, 10)).length === 2, 20_000, "the retry");
    assert.equal(await store.health(), null);
    assert.ok(errors.length >= 1);
    await store.close();
    const reopened = SqliteJobStore.open(`${dir.path}/quillflow.db`);
    try {
      assert.equal((await reopened.get("r"))?.topic, record.topic);
      assert.deepEqual((await reopened.events("r", 0, 10)).map((e) => e.id), [1, 2]);
    } finally {
      await reopened.close();
    }
  } finally {
    await store.close().catch(() => {});
  }
});

Deno.test("SqliteJobStore does not try a failing write every turn, however much is buffered", async () => {
  await using dir = await makeTestDir("sqlite-full-buffer");
  let db: DatabaseSync | undefined;
  let failures = 0;
  const store = SqliteJobStore.open(`${dir.path}/quillflow.db`, {
    openDatabase: (path) => db = new DatabaseSync(path),
    onError: () => failures++,
    maxBufferedEvents: 100,
  });
  const disk = diskOf(db as DatabaseSync);
  try {
    disk.fill();
    // Larger than a page: it cannot fit in the room left in a page that is already there.
    const big = { id: 1, type: "delta", data: { text: "x".repeat(10_000) } } as const;
    store.append("j", big).catch(() => {});
    await waitFor(() => failures === 1, 20_000, "the first failed write");
    // Microtask turns only: no timer can fire, so only a retry tied to the buffer's size runs.
    for (let id = 2; id <= 1_000; id++) {
      store.append("j", event(id)).catch(() => {});
      await Promise.resolve();
    }
    assert.equal(failures, 1, "tried again only by its backoff timer");
    disk.free();
    await waitFor(
      async () => (await store.events("j", 0, 2_000)).length === 1_000,
      20_000,
      "the buffer to be written",
    );
    const ids = (await store.events("j", 0, 2_000)).map((e) => e.id);
    assert.deepEqual(ids, Array.from({ length: 1_000 }, (_, i) => i + 1));
  } finally {
    disk.free(); // so that closing writes, whatever failed above
    await store.close();
  }
});

/**
 * A disk that fills up, on the store's own connection: `PRAGMA max_page_count` is per
 * connection, and the store holds the file exclusively.
 */
function diskOf(db: DatabaseSync): { fill(): void; free(): void } {
  return {
    fill() {
      db.exec("CREATE TABLE IF NOT EXISTS filler (x BLOB)");
      const pages = Number(db.prepare("PRAGMA page_count").get()?.page_count);
      db.prepare(`PRAGMA max_page_count = ${pages}`).get();
      // Take the free pages too, so the next write of any size needs a page there is not.
      try {
        for (let i = 0; i < 10_000; i++) db.exec("INSERT INTO filler VALUES (randomblob(3000))");
      } catch (error) {
        if (!/full/.test(String(error))) throw error;
        return;
      }
      throw new Error("the file did not fill up");
    },
    free() {
      db.prepare("PRAGMA max_page_count = 1073741823").get();
    },
  };
}

Deno.test("SqliteJobStore keeps its write-ahead log small: a small disk is not filled by it", async () => {
  // The WAL grew to SQLite's default checkpoint point (1000 pages, 4 MiB) before it was copied
  // back: on a 4 MiB data disk it filled the disk again right after space was freed, and every
  // later write failed while live readers waited for events that never reached the file.
  await using dir = await makeTestDir("sqlite-wal-size");
  const path = `${dir.path}/quillflow.db`;
  const store = SqliteJobStore.open(path);
  let largest = 0;
  try {
    const text = "x".repeat(2_000);
    for (let id = 1; id <= 3_000; id++) {
      await store.append("j", { id, type: "delta", data: { step: "content", text } });
      if (id % 50 === 0) {
        await store.flush();
        largest = Math.max(largest, Deno.statSync(`${path}-wal`).size);
      }
    }
    assert.equal((await store.events("j", 2_999, 10)).at(-1)?.id, 3_000);
  } finally {
    await store.close();
  }
  assert.ok(largest <= 1.5 * 1024 * 1024, `the WAL reached ${largest} bytes`);
});

Deno.test("SqliteJobStore checkpoints its WAL off the main thread: a checkpoint runs while the main thread is blocked", async () => {
  // SQLite's automatic checkpoint ran inside the main connection's COMMIT and blocked the event
  // loop for its writes and fsyncs (7-27 ms each in the benchmarks). Now the main connection
  // never checkpoints and a Worker does: the database file (written only by checkpoints in WAL
  // mode) changes while this thread spins without yielding, which no code on it could do.
  await using dir = await makeTestDir("sqlite-wal-worker");
  const path = `${dir.path}/quillflow.db`;
  let db: DatabaseSync | undefined;
  const errors: unknown[] = [];
  const store = SqliteJobStore.open(path, {
    openDatabase: (file) => db = new DatabaseSync(file),
    onError: (error) => errors.push(error),
  });
  const fileState = () => {
    const info = Deno.statSync(path);
    return `${info.size} ${info.mtime?.getTime()}`;
  };
  try {
    const autocheckpoint = (db as DatabaseSync).prepare("PRAGMA wal_autocheckpoint").get();
    assert.deepEqual({ ...autocheckpoint }, { wal_autocheckpoint: 0 }, "the main one never does");
    const text = "x".repeat(20_000);
    let seenWhileBlocked = false;
    for (let id = 1; id <= 200 && !seenWhileBlocked; id++) {
      await store.append("j", { id, type: "delta", data: { step: "content", text } });
      // The commit may just have asked the worker for a checkpoint: block this thread a while.
      const before = fileState();
      const until = performance.now() + 100;
      while (performance.now() < until && !seenWhileBlocked) {
        seenWhileBlocked = fileState() !== before;
      }
    }
    assert.ok(seenWhileBlocked, "the database file changed while the main thread was blocked");
    assert.equal(await store.health(), null);
    assert.deepEqual(errors, []);
  } finally {
    await store.close();
  }
});

/** A store on a file whose reads of one job record are counted. */
function countingRecordReads(path: string): { store: SqliteJobStore; reads: () => number } {
  let reads = 0;
  const store = SqliteJobStore.open(path, {
    flushMs: 1,
    openDatabase: (file) => {
      const db = new DatabaseSync(file);
      const prepare = db.prepare.bind(db);
      db.prepare = (sql: string) => {
        const statement = prepare(sql);
        if (/^SELECT record FROM jobs WHERE id = \?$/.test(sql.trim())) {
          const get = statement.get;
          statement.get = function (this: StatementSync, ...args: SQLInputValue[]) {
            reads++;
            return Reflect.apply(get, this, args) as ReturnType<typeof get>;
          } as typeof get;
        }
        return statement;
      };
      return db;
    },
  });
  return { store, reads: () => reads };
}

Deno.test("SqliteJobStore answers for the jobs it wrote last without reading the file back", async () => {
  await using dir = await makeTestDir("sqlite-written-records");
  const path = `${dir.path}/quillflow.db`;
  const { store, reads } = countingRecordReads(path);
  try {
    const done = jobRecord("done", { status: "completed", progress: 100, article: "# Done" });
    await store.put(done);
    // Written and out of the buffer: what a client asks for once its job has finished.
    assert.deepEqual(await store.get("done"), done);
    assert.equal(reads(), 0, "the record just written is not read back from the file");
    // Past the ones kept, a record is read from the file, the same as it was put.
    const later = Array.from({ length: 300 }, (_, i) => jobRecord(`j${i}`, { createdAt: i }));
    await Promise.all(later.map((record) => store.put(record)));
    assert.deepEqual(await store.get("done"), done);
    assert.equal(reads(), 1);
    assert.deepEqual(await store.get("j299"), later[299]);
    assert.equal(reads(), 1);
    // Deleted, it is gone from memory as well as from the file.
    await store.delete("j299");
    assert.equal(await store.get("j299"), undefined);
  } finally {
    await store.close();
  }
  const reopened = countingRecordReads(path);
  try {
    assert.equal((await reopened.store.get("done"))?.article, "# Done");
    assert.equal(reopened.reads(), 1, "a new process reads the file");
    assert.equal(await reopened.store.get("j299"), undefined);
  } finally {
    await reopened.store.close();
  }
});
