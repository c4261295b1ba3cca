import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { WalCheckpointer } from "../src/store/wal_checkpointer.ts";
import { waitFor } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

Deno.test("WalCheckpointer reports a failing checkpoint (log and health), tries again, and clears it once one succeeds", async () => {
  await using dir = await makeTestDir("wal-checkpointer");
  // A folder where the database should be: the worker cannot open it.
  const path = `${dir.path}/quillflow.db`;
  await Deno.mkdir(path);
  const errors: unknown[] = [];
  let inline = 0;
  const checkpointer = new WalCheckpointer(path, {
    onError: (error) => errors.push(error),
    onRelease: () => {},
    checkpointHere: () => inline++,
    pages: 4,
  });
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
    assert.equal(inline, 0, "all of it in the worker, none on this thread");
  } finally {
    await checkpointer.close();
  }
});
