/**
 * Builds the job store a {@linkcode Config} asks for: the SQLite file in the data directory, or
 * process memory.
 *
 * @module
 */

import { join } from "node:path";
import type { Config } from "./config.ts";
import { defaultDataDir } from "./store/data_dir.ts";
import { type JobStore } from "./core/job_store.ts";
import { MemoryJobStore } from "./store/memory_job_store.ts";
import { type Logger, silentLogger } from "./core/logger.ts";
import { describeError } from "./core/describe_error.ts";
import { processEnv } from "./core/process_env.ts";
import { DATABASE_FILE, SqliteJobStore, StoreOpenError } from "./store/sqlite_job_store.ts";

/**
 * The data directory of `config`: `DATA_DIR`, else the platform's per-user data folder.
 *
 * @example
 * ```ts
 * import { resolveDataDir } from "./store_factory.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(resolveDataDir({ dataDir: "/srv/qf" }), "/srv/qf");
 * ```
 */
export function resolveDataDir(
  config: Pick<Config, "dataDir">,
  env: (name: string) => string | undefined = processEnv,
): string {
  return config.dataDir ?? defaultDataDir(env);
}

/**
 * Opens the store `config.store` names: `sqlite` creates the data directory if needed and opens
 * `quillflow.db` in it; anything else is a fresh {@linkcode MemoryJobStore}. Throws
 * {@linkcode StoreOpenError} when the file cannot be opened or read.
 *
 * @example
 * ```ts
 * import { openStore } from "./store_factory.ts";
 * import { MemoryJobStore } from "./store/memory_job_store.ts";
 * import assert from "node:assert/strict";
 *
 * const store = openStore({ store: "memory", dataDir: undefined });
 * assert.ok(store instanceof MemoryJobStore);
 * await store.close();
 * ```
 */
export function openStore(
  config: Pick<Config, "store" | "dataDir">,
  logger: Logger = silentLogger,
  env: (name: string) => string | undefined = processEnv,
): JobStore {
  if (config.store !== "sqlite") return new MemoryJobStore();
  const dir = resolveDataDir(config, env);
  const path = join(dir, DATABASE_FILE);
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new StoreOpenError(path, `its folder cannot be created (${describeError(error)})`, {
      cause: error,
    });
  }
  return SqliteJobStore.open(path, {
    onError: (error) =>
      logger.log("error", "job store write failed; will retry", { error: describeError(error) }),
  });
}
