import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { WalIndex } from "../src/store/wal_index.ts";
import { makeTestDir } from "./test_dir.ts";

Deno.test("WalIndex reads the WAL's frames and those a checkpoint copied, as SQLite counts them", async (t) => {
  await using dir = await makeTestDir("wal-index");
  const path = `${dir.path}/quillflow.db`;
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x)");
  const walIndex = WalIndex.open(path);
  try {
    assert.ok(walIndex);
    await t.step("each commit's frames are counted", () => {
      const before = walIndex.read()?.frames ?? -1;
      for (let i = 0; i < 5; i++) db.exec("INSERT INTO t VALUES (randomblob(100))");
      assert.deepEqual(walIndex.read(), { frames: before + 5, backfilled: 0 });
    });
    await t.step("the numbers PRAGMA wal_checkpoint reports, and the WAL starting over", () => {
      const row = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
      assert.deepEqual(walIndex.read(), {
        frames: Number(row?.log),
        backfilled: Number(row?.checkpointed),
      });
      db.exec("INSERT INTO t VALUES (1)");
      assert.deepEqual(walIndex.read(), { frames: 1, backfilled: 0 });
    });
  } finally {
    db.close();
    walIndex?.close();
  }
});

Deno.test("WalIndex.open answers undefined for a file with no WAL index", async () => {
  await using dir = await makeTestDir("wal-index-none");
  const path = `${dir.path}/quillflow.db`;
  const db = new DatabaseSync(path);
  try {
    db.exec("CREATE TABLE t (x)");
    assert.equal(WalIndex.open(path), undefined, "rollback journal: no -shm file");
    await Deno.writeFile(`${path}-shm`, new Uint8Array(200));
    assert.equal(WalIndex.open(path), undefined, "a file that is not an index");
  } finally {
    db.close();
  }
});
