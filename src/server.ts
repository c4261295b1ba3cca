/**
 * Wires the parts from a {@linkcode Config} and serves them; shutdown closes the event streams
 * before the server, since `server.shutdown()` waits for open responses.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { createHandler } from "./app.ts";
import type { Config } from "./config.ts";
import type { BullmqDispatcher } from "./bullmq_dispatcher.ts";
import { type JobDispatcher, JobManager } from "./job_manager.ts";
import type { JobStore } from "./job_store.ts";
import type { LlmClient } from "./llm.ts";
import { OfflineWriter } from "./llm_offline.ts";
import { OpenAiClient } from "./llm_openai.ts";
import { McpHttpEndpoint } from "./mcp/http_endpoint.ts";
import { createLogger, type Logger } from "./logger.ts";
import { instrumentLlm, Metrics } from "./metrics.ts";
import type { RedisJobStore } from "./redis_job_store.ts";
import { describeError } from "./retry.ts";
import { openStore } from "./store_factory.ts";

/** The LLM client `config` asks for. */
export function createLlm(config: Config): LlmClient {
  if (config.llmProvider === "offline") {
    return new OfflineWriter({ delayMs: config.offlineDelayMs });
  }
  return new OpenAiClient({
    apiKey: config.openaiApiKey ?? "not-needed",
    ...(config.openaiBaseUrl ? { baseURL: config.openaiBaseUrl } : {}),
    model: config.llmModel,
    timeoutMs: config.llmTimeoutMs,
    maxAttempts: config.llmMaxAttempts,
  });
}

/** The job manager `config` asks for. */
export function createManager(
  config: Config,
  llm: LlmClient,
  store: JobStore,
  logger: Logger,
  dispatcher?: JobDispatcher,
): JobManager {
  return new JobManager({
    ...(dispatcher ? { dispatcher } : {}),
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
}

/** A running service. */
export interface RunningServer {
  /** Where it listens, such as `http://127.0.0.1:8000`. */
  url: string;
  /** The job manager, for tests and stats. */
  manager: JobManager;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Stops accepting, lets running jobs finish within `graceMs`, ends streams, stops. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Options for {@linkcode startServer}. */
export interface StartOptions {
  /** Log sink; JSON lines on stderr by default. */
  logger?: Logger;
  /** The LLM client; built from the config by default. */
  llm?: LlmClient;
  /**
   * The store; by default the one `config.store` names, and in memory when that is unset (the
   * `quillflow` command sets it to `sqlite`). It is closed on shutdown.
   */
  store?: JobStore;
}

/**
 * The shared store and dispatcher of `STORE=redis`; throws a {@linkcode StoreUnavailableError}
 * naming the address when Redis does not answer.
 */
export async function connectRedis(
  config: Config,
  logger: Logger,
): Promise<{ store: RedisJobStore; dispatcher: BullmqDispatcher }> {
  // Loaded only for STORE=redis: the single-process default needs neither ioredis nor BullMQ.
  let modules;
  try {
    modules = await Promise.all([import("./redis_job_store.ts"), import("./bullmq_dispatcher.ts")]);
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
  const store = await RedisJobStore.connect(url, { ttlMs: config.jobTtlMs });
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

/**
 * Builds every part from `config`, takes up the jobs a previous process left in the store, and
 * starts serving. Rejects with a `StoreOpenError` when the store cannot be opened or read, and
 * with a `StoreUnavailableError` when `STORE=redis` and Redis does not answer.
 */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const llm = instrumentLlm(options.llm ?? createLlm(config), metrics, config.llmPrices);
  // STORE=redis shares jobs between instances; otherwise this process keeps its own store.
  const shared = !options.store && config.store === "redis"
    ? await connectRedis(config, logger)
    : undefined;
  const store = options.store ?? shared?.store ?? openStore(config, logger);
  const manager = createManager(config, llm, store, logger, shared?.dispatcher);
  // Whatever fails from here leaves nothing running: no worker, no connection, no file lock.
  const abandon = async () => {
    await manager.close();
    await shared?.dispatcher.close();
    await store.close().catch(() => {});
  };
  try {
    if (shared) await shared.dispatcher.start(manager);
    else await manager.recover();
  } catch (error) {
    await abandon();
    if (shared) throw error;
    throw new Error(`Cannot take up the jobs kept in the store: ${describeError(error)}`, {
      cause: error,
    });
  }
  const mcp = new McpHttpEndpoint({
    jobs: manager,
    version: denoJson.version,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    allowedOrigins: config.corsOrigins,
  });
  const handler = createHandler({
    mcp: (request) => mcp.handle(request),
    health: shared ? sharedHealth(shared.store) : storeHealth(store),
    ...(shared ? { sharedQueue: () => shared.dispatcher.counts() } : {}),
    manager,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    sseClientBuffer: config.sseClientBuffer,
    compatHoldMs: config.compatHoldMs,
    apiToken: config.apiToken,
    corsOrigins: config.corsOrigins,
  });
  const { promise: listening, resolve } = Promise.withResolvers<string>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port: config.port,
      hostname: config.host,
      onListen: ({ hostname, port }) => {
        const host = hostname.includes(":") ? `[${hostname}]` : hostname;
        resolve(`http://${host}:${port}`);
      },
      onError: (error) => {
        logger.log("error", "request failed", { error: String(error) });
        return new Response(
          JSON.stringify({ error: { code: "internal", message: "Internal server error" } }),
          {
            status: 500,
            headers: { "content-type": "application/json" },
          },
        );
      },
    }, handler);
  } catch (error) {
    // Say, the port is taken.
    await abandon();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return await listening.then((url) => {
    logger.log("info", "listening", {
      url,
      provider: llm.provider,
      model: llm.model ?? "none (offline demo writer, not a model)",
      maxConcurrentJobs: config.maxConcurrentJobs,
    });
    return {
      url,
      manager,
      finished: server.finished,
      shutdown(graceMs = config.shutdownGraceMs) {
        stopping ??= (async () => {
          const closed = server.shutdown();
          // Take no more jobs from the shared queue while the running ones get their grace.
          const stopped = shared?.dispatcher.stopTaking();
          await manager.shutdown(graceMs);
          await mcp.close();
          await stopped;
          await shared?.dispatcher.close();
          await closed;
          await store.close();
          logger.log("info", "stopped", {});
        })();
        return stopping;
      },
    };
  });
}

/** `/healthz` of a store of this process: what keeps it from writing, under `store`. */
function storeHealth(store: JobStore): () => Promise<Record<string, string> | null> {
  return async () => {
    const trouble = await store.health?.();
    return trouble ? { store: trouble } : null;
  };
}

function sharedHealth(store: RedisJobStore): () => Promise<Record<string, string> | null> {
  return async () => {
    const redis = await store.health();
    return redis ? { redis } : null;
  };
}
