/**
 * The job core a {@linkcode Config} asks for, wired and started, without any HTTP: the LLM, the
 * store, the dispatcher (in process, or BullMQ for `STORE=redis`) and the job manager. `serve`,
 * `generate` and `mcp` all open their jobs here.
 *
 * @module
 */

import type { Config } from "./config.ts";
import { describeError } from "./core/describe_error.ts";
import type { JobRecord } from "./core/job.ts";
import type { JobStore } from "./core/job_store.ts";
import type { Logger } from "./core/logger.ts";
import type { BullmqDispatcher } from "./jobs/bullmq_dispatcher.ts";
import { JobManager } from "./jobs/job_manager.ts";
import type { LlmClient } from "./llm/llm_client.ts";
import { OfflineWriter } from "./llm/offline_writer.ts";
import { OpenAiClient } from "./llm/openai_client.ts";
import { readProxyEnv } from "./llm/proxy_env.ts";
import { processEnv } from "./core/process_env.ts";
import { MemoryJobStore } from "./store/memory_job_store.ts";
import type { RedisJobStore } from "./store/redis_job_store.ts";
import { openStore } from "./store_factory.ts";
import { webhooksWanted } from "./webhooks/webhooks.ts";

/**
 * The LLM client `config` asks for; `env` gives the proxy variables (`proxy_env.ts`), which are
 * Deno's, not Quillflow's settings.
 */
export function createLlm(
  config: Config,
  env: (name: string) => string | undefined = processEnv,
): LlmClient {
  if (config.llmProvider === "offline") {
    return new OfflineWriter({ delayMs: config.offlineDelayMs });
  }
  return new OpenAiClient({
    apiKey: config.openaiApiKey ?? "not-needed",
    ...(config.openaiBaseUrl ? { baseURL: config.openaiBaseUrl } : {}),
    model: config.llmModel,
    timeoutMs: config.llmTimeoutMs,
    maxAttempts: config.llmMaxAttempts,
    proxies: readProxyEnv(env),
  });
}

/** Open jobs: the manager, what the store reports for `/healthz`, and the way to stop. */
export interface OpenJobs {
  /** Runs and tracks jobs. */
  manager: JobManager;
  /** The store, closed by `shutdown`. */
  store: JobStore;
  /** What keeps the store from working, keyed by part (`store` or `redis`); `null` when none. */
  health(): Promise<Record<string, string> | null>;
  /** Jobs waiting and running on every instance, when the line is shared (`STORE=redis`). */
  sharedQueue?: () => Promise<{ waiting: number; running: number }>;
  /** Stops taking jobs, gives running ones `graceMs`, then closes the store. */
  shutdown(graceMs: number): Promise<void>;
}

/** Options of {@linkcode openJobs}. */
export interface OpenJobsOptions {
  /** Structured logs. */
  logger: Logger;
  /** The LLM client; built from the config by default. */
  llm?: LlmClient;
  /**
   * The store; by default the one `config.store` names (`memory` when unset). `memory` gives a
   * fresh store in memory, as `generate` wants: a one-off run has nothing to resume.
   */
  store?: JobStore | "memory";
  /**
   * Opens what keeps its own data beside the jobs, in their store (idempotency keys, webhook
   * deliveries), once the store is open and before the manager is made; `redisUrl` is set when
   * the store is Redis.
   */
  companion?: (store: JobStore, redisUrl: string | undefined) => Promise<StoreCompanion>;
}

/** What {@linkcode OpenJobsOptions.companion} opens beside the jobs. */
export interface StoreCompanion {
  /** Told of each job's end in the turn of its write (see `JobManagerOptions.onEnd`). */
  onEnd?: (record: JobRecord) => void;
  /** Closes it: after the jobs have stopped, before the store closes. */
  close(): Promise<void>;
}

/**
 * Opens the jobs `config` asks for and takes up what a previous process left: a durable store's
 * unfinished jobs, or the shared queue's. Rejects with a `StoreOpenError` when the store cannot
 * be opened or read, and with a `StoreUnavailableError` when Redis does not answer; whatever
 * fails leaves nothing running (no worker, no connection, no file lock).
 */
export async function openJobs(config: Config, options: OpenJobsOptions): Promise<OpenJobs> {
  const { logger } = options;
  const llm = options.llm ?? createLlm(config);
  // STORE=redis shares jobs between instances; otherwise this process keeps its own store.
  const shared = options.store === undefined && config.store === "redis"
    ? await connectRedis(config, logger)
    : undefined;
  const store = shared?.store ??
    (options.store === "memory" ? new MemoryJobStore() : options.store) ??
    openStore(config, logger);
  let companion: StoreCompanion | undefined;
  try {
    companion = await options.companion?.(store, shared ? config.redisUrl : undefined);
  } catch (error) {
    await shared?.dispatcher.close();
    await store.close().catch(() => {});
    throw error;
  }
  const manager = new JobManager({
    ...(shared ? { dispatcher: shared.dispatcher } : {}),
    ...(companion?.onEnd ? { onEnd: companion.onEnd } : {}),
    store,
    llm,
    logger,
    maxConcurrentJobs: config.maxConcurrentJobs,
    maxQueuedJobs: config.maxQueuedJobs,
    jobTtlMs: config.jobTtlMs,
    heartbeatMs: config.heartbeatMs,
    stallMs: config.sseStallMs,
    flow: { maxSections: config.maxSections, sectionConcurrency: config.sectionConcurrency },
    ...(config.llmPrices ? { llmPrices: config.llmPrices } : {}),
  });
  try {
    // The shared queue hands this instance its jobs; a store of this process is read back.
    if (shared) await shared.dispatcher.start();
    else await manager.recover();
  } catch (error) {
    await manager.close();
    await companion?.close();
    await store.close().catch(() => {});
    if (shared) throw error;
    throw new Error(`Cannot take up the jobs kept in the store: ${describeError(error)}`, {
      cause: error,
    });
  }
  const part = shared ? "redis" : "store";
  return {
    manager,
    store,
    health: async () => {
      const trouble = await store.health();
      return trouble ? { [part]: trouble } : null;
    },
    ...(shared ? { sharedQueue: () => shared.dispatcher.counts() } : {}),
    async shutdown(graceMs: number) {
      await manager.shutdown(graceMs);
      // After the jobs: the ends of those that finished in their grace are sent meanwhile.
      await companion?.close();
      await store.close();
    },
  };
}

/**
 * The shared store and dispatcher of `STORE=redis`; throws a `StoreUnavailableError` naming the
 * address when Redis does not answer.
 */
export async function connectRedis(
  config: Config,
  logger: Logger,
): Promise<{ store: RedisJobStore; dispatcher: BullmqDispatcher }> {
  // Loaded only for STORE=redis: the single-process default needs neither ioredis nor BullMQ.
  let modules;
  try {
    modules = await Promise.all([
      import("./store/redis_job_store.ts"),
      import("./jobs/bullmq_dispatcher.ts"),
    ]);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new TypeError(
      "STORE=redis: its Redis client libraries read environment variables outside the " +
        "--allow-env list when loaded; run with the `quillflow` permission set (`deno task " +
        "start`, or -P=quillflow), which reads every variable it does not list as unset",
      { cause: error },
    );
  }
  const [{ RedisJobStore }, { BullmqDispatcher }] = modules;
  const url = config.redisUrl as string;
  // With webhooks, the write that ends a job records its end for them, whichever command ran it.
  const store = await RedisJobStore.connect(url, {
    ttlMs: config.jobTtlMs,
    endedFeed: webhooksWanted(config),
  });
  try {
    const dispatcher = await BullmqDispatcher.create({
      url,
      store,
      concurrency: config.maxConcurrentJobs,
      globalConcurrency: config.globalConcurrentJobs ?? 0,
      maxQueued: config.maxQueuedJobs,
      lockMs: config.jobLockMs ?? 30_000,
      logger,
    });
    return { store, dispatcher };
  } catch (error) {
    await store.close();
    throw error;
  }
}
