import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { WalCheckpointer, type WalCheckpointerOptions } from "../src/store/wal_checkpointer.ts";
import { WalIndex } from "../src/store/wal_index.ts";
import { waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

/**
 * A checkpointer of `path` that records its errors and counts the checkpoints it ran on this
 * thread (none expected: the worker runs them).
 */
function watchedCheckpointer(
  path: string,
  options: Pick<WalCheckpointerOptions, "pages" | "walState">,
) {
  const seen = { errors: [] as unknown[], inline: 0 };
  const checkpointer = new WalCheckpointer(path, {
    onError: (error) => seen.errors.push(error),
    onRelease: () => {},
    checkpointHere: () => seen.inline++,
    ...options,
  });
  return { checkpointer, seen };
}

Deno.test("WalCheckpointer reports a failing checkpoint (log and health), tries again, and clears it once one succeeds", async () => {
  await using dir = await makeTestDir("wal-checkpointer");
  // A folder where the database should be: the worker cannot open it.
  const path = `${dir.path}/quillflow.db`;
  await Deno.mkdir(path);
  const { checkpointer, seen } = watchedCheckpointer(path, { pages: 4 });
  const { errors } = seen;
  try {
    checkpointer.committed(4);
    await waitFor(() => errors.length >= 1, 20_000, "the failed checkpoint's report");
    assert.match(String(errors[0]), /cannot checkpoint the write-ahead log: .*unable to open/);
    assert.match(checkpointer.health() ?? "", /cannot checkpoint the write-ahead log/);

    // Fixed: the retry (a second later) succeeds, with no further commit to prompt it.
    await Deno.remove(path);
    const db = new DatabaseSync(path);
    db.exec("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    db.close();
    await waitFor(() => checkpointer.checkpoints >= 1, 20_000, "the retried checkpoint");
    assert.equal(checkpointer.health(), null);
    assert.equal(seen.inline, 0, "all of it in the worker, none on this thread");
  } finally {
    await checkpointer.close();
  }
});

Deno.test("WalCheckpointer checkpoints every `pages` frames of the real WAL, not of the commits' estimates", async () => {
  // The store's estimate counts two pages per row: for small batches nearly twice what they
  // write, so the worker ran about twice the checkpoints SQLite's wal_autocheckpoint had.
  await using dir = await makeTestDir("wal-checkpointer-pages");
  const path = `${dir.path}/quillflow.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0");
  db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (0)");
  const walIndex = WalIndex.open(path);
  assert.ok(walIndex, "the WAL index of a WAL-mode file can be read");
  let largest = 0;
  const { checkpointer, seen } = watchedCheckpointer(path, {
    pages: 16,
    walState: () => walIndex.read(),
  });
  const { errors } = seen;
  try {
    for (let i = 1; i <= 160; i++) {
      // One page per commit (the table's only leaf), told as the store would: on the high side.
      db.exec(`UPDATE t SET x = ${i}`);
      largest = Math.max(largest, walIndex.read()?.frames ?? Infinity);
      checkpointer.committed(8);
      await waitFor(() => !checkpointer.checkpointing, 20_000, `checkpoint after commit ${i}`);
    }
    assert.equal(checkpointer.checkpoints, 10, "160 pages at 16 a checkpoint (not 160 × 8 / 16)");
    assert.equal(largest, 16, "the WAL started over after each");
    assert.deepEqual(errors, []);
    assert.equal(seen.inline, 0);
  } finally {
    await checkpointer.close();
    db.close();
    walIndex.close();
  }
});
