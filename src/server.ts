/**
 * Wires the parts from a {@linkcode Config} and serves them; shutdown closes the event streams
 * before the server, since `server.shutdown()` waits for open responses.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import type { Config } from "./config.ts";
import type { JobStore } from "./core/job_store.ts";
import { createLogger, type Logger } from "./core/logger.ts";
import { createHandler } from "./http/app.ts";
import { instrumentLlm, Metrics } from "./http/metrics.ts";
import type { IdempotencyStore } from "./idempotency/idempotency_store.ts";
import { IdempotentSubmit } from "./idempotency/idempotent_submit.ts";
import { openIdempotencyStore } from "./idempotency/open_idempotency_store.ts";
import type { JobManager } from "./jobs/job_manager.ts";
import type { LlmClient } from "./llm/llm_client.ts";
import { McpHttpEndpoint } from "./mcp/http_endpoint.ts";
import { createLlm, openJobs, type StoreCompanion } from "./open_jobs.ts";
import { Webhooks, webhooksWanted } from "./webhooks/webhooks.ts";

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
 * starts serving. Rejects with a `StoreOpenError` when the store cannot be opened or read, and
 * with a `StoreUnavailableError` when `STORE=redis` and Redis does not answer.
 */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<RunningServer> {
  if (config.reusePort && !unstableNetEnabled()) {
    // Deno would end the process at Deno.serve (status 70): say so before Redis is touched.
    throw new TypeError(
      "REUSE_PORT=1 needs Deno's --unstable-net flag (deno task start and the compiled binary " +
        "have it): deno run --unstable-net -P=quillflow main.ts serve",
    );
  }
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = new Metrics();
  const llm = instrumentLlm(options.llm ?? createLlm(config), metrics, config.llmPrices);
  const { promise: companion, resolve: opened } = Promise.withResolvers<ServiceCompanion>();
  const jobs = await openJobs(config, {
    logger,
    llm,
    ...(options.store ? { store: options.store } : {}),
    companion: async (store, redisUrl) => {
      const parts = await openCompanion(config, store, redisUrl, logger);
      opened(parts);
      return parts;
    },
  });
  const manager = jobs.manager;
  // Opened by openJobs, which has resolved.
  const { keys, webhooks } = await companion;
  const mcp = new McpHttpEndpoint({
    jobs: manager,
    version: denoJson.version,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    allowedOrigins: config.corsOrigins,
  });
  const handler = createHandler({
    mcp: (request) => mcp.handle(request),
    health: jobs.health,
    ...(jobs.sharedQueue ? { sharedQueue: jobs.sharedQueue } : {}),
    manager,
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    sseClientBuffer: config.sseClientBuffer,
    compatHoldMs: config.compatHoldMs,
    apiToken: config.apiToken,
    corsOrigins: config.corsOrigins,
    idempotency: new IdempotentSubmit({
      store: keys,
      getJob: (id) => manager.get(id),
      ttlMs: config.idempotencyTtlMs ?? 86_400_000,
      logger,
    }),
    ...(webhooks
      ? {
        checkWebhook: (value: unknown) => webhooks.policy.check(value),
        readings: () => webhooks.readings(),
      }
      : {}),
  });
  const { promise: listening, resolve } = Promise.withResolvers<string>();
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      port: config.port,
      hostname: config.host,
      // Several processes on one port, each taking connections the kernel hands it (Linux).
      reusePort: config.reusePort ?? false,
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
    await mcp.close();
    await jobs.shutdown(0);
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
          // Event streams end with the jobs' shutdown; the server waits for open responses.
          await jobs.manager.shutdown(graceMs);
          await mcp.close();
          await closed;
          await jobs.shutdown(0);
          logger.log("info", "stopped", {});
        })();
        return stopping;
      },
    };
  });
}

/**
 * Whether `--unstable-net` is on: `reusePort` needs it, and without it Deno leaves its unstable
 * network functions (`Deno.listenDatagram`) off the namespace.
 */
function unstableNetEnabled(): boolean {
  return "listenDatagram" in Deno;
}

/** The parts the service keeps beside its jobs: idempotency keys and webhooks. */
interface ServiceCompanion extends StoreCompanion {
  keys: IdempotencyStore;
  webhooks: Webhooks | undefined;
}

/** Opens the idempotency keys and, when `config` asks for them, webhooks, beside `store`. */
async function openCompanion(
  config: Config,
  store: JobStore,
  redisUrl: string | undefined,
  logger: Logger,
): Promise<ServiceCompanion> {
  const keys = await openIdempotencyStore(store, redisUrl);
  let webhooks: Webhooks | undefined;
  try {
    if (webhooksWanted(config)) {
      webhooks = await Webhooks.start(config, {
        store,
        redisUrl,
        logger,
        userAgent: `Quillflow/${denoJson.version}`,
      });
    }
  } catch (error) {
    await keys.close();
    throw error;
  }
  return {
    keys,
    webhooks,
    ...(webhooks ? { onEnd: webhooks.onEnd } : {}),
    async close() {
      await webhooks?.stop();
      await keys.close();
    },
  };
}
