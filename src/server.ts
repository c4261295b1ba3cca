/**
 * Wires the parts from a {@linkcode Config} and serves them; shutdown closes the event streams
 * before the server, since `server.shutdown()` waits for open responses.
 *
 * @module
 */

import { createHandler } from "./app.ts";
import type { Config } from "./config.ts";
import { JobManager } from "./job_manager.ts";
import type { JobStore } from "./job_store.ts";
import type { LlmClient } from "./llm.ts";
import { OfflineWriter } from "./llm_offline.ts";
import { OpenAiClient } from "./llm_openai.ts";
import { createLogger, type Logger } from "./logger.ts";
import { instrumentLlm, Metrics } from "./metrics.ts";
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
): JobManager {
  return new JobManager({
    store,
    llm,
    logger,
    maxConcurrentJobs: config.maxConcurrentJobs,
    maxQueuedJobs: config.maxQueuedJobs,
    jobTtlMs: config.jobTtlMs,
    heartbeatMs: config.heartbeatMs,
    stallMs: config.sseStallMs,
    flow: { maxSections: config.maxSections, sectionConcurrency: config.sectionConcurrency },
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
 * Builds every part from `config`, takes up the jobs a previous process left in the store, and
 * starts serving. Rejects with a `StoreOpenError` when the store cannot be opened or read.
 */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const llm = instrumentLlm(options.llm ?? createLlm(config), metrics);
  const store = options.store ?? openStore(config, logger);
  const manager = createManager(config, llm, store, logger);
  try {
    await manager.recover();
  } catch (error) {
    await manager.close();
    await store.close().catch(() => {});
    throw new Error(`Cannot take up the jobs kept in the store: ${describeError(error)}`, {
      cause: error,
    });
  }
  const handler = createHandler({
    manager,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    sseClientBuffer: config.sseClientBuffer,
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
    // Say, the port is taken: leave nothing running and the data file unlocked.
    await manager.close();
    await store.close();
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
          await manager.shutdown(graceMs);
          await closed;
          await store.close();
          logger.log("info", "stopped", {});
        })();
        return stopping;
      },
    };
  });
}
