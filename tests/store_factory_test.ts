import assert from "node:assert/strict";
import { loadConfig } from "../src/config.ts";
import { MemoryJobStore } from "../src/store/memory_job_store.ts";
import { SqliteJobStore, StoreOpenError } from "../src/store/sqlite_job_store.ts";
import { openStore } from "../src/store_factory.ts";
import { makeTestDir } from "./test_dir.ts";

Deno.test("openStore() picks memory unless the config says sqlite", async (t) => {
  await t.step("a default config (as HTTP tests build it) writes nothing to disk", async () => {
    const { config } = loadConfig(() => undefined, ["--port", "0"]);
    assert.equal(config.store, undefined);
    const store = openStore(config, undefined, () => {
      throw new Error("the data folder must not even be looked up");
    });
    assert.ok(store instanceof MemoryJobStore);
    await store.close();
  });
  await t.step("sqlite creates the data folder and the file in it", async () => {
    await using dir = await makeTestDir("factory");
    const dataDir = `${dir.path}/nested/quillflow`;
    const store = openStore({ store: "sqlite", dataDir });
    try {
      assert.ok(store instanceof SqliteJobStore);
      assert.ok((await Deno.stat(`${dataDir}/quillflow.db`)).isFile);
    } finally {
      await store.close();
    }
  });
  await t.step("sqlite without DATA_DIR uses the per-user folder", async () => {
    await using dir = await makeTestDir("factory-home");
    const env = (name: string) => ({ HOME: dir.path })[name];
    const store = openStore({ store: "sqlite" }, undefined, env);
    try {
      assert.ok((await Deno.stat(`${dir.path}/.local/share/quillflow/quillflow.db`)).isFile);
    } finally {
      await store.close();
    }
  });
  await t.step("a folder that cannot be created is a StoreOpenError", async () => {
    await using dir = await makeTestDir("factory-file");
    await Deno.writeTextFile(`${dir.path}/taken`, "a file, not a folder");
    assert.throws(
      () => openStore({ store: "sqlite", dataDir: `${dir.path}/taken/quillflow` }),
      (error: unknown) =>
        error instanceof StoreOpenError && /cannot be created/.test(error.message),
    );
  });
});
