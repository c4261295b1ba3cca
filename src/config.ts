/**
 * Configuration: environment variables with matching command-line flags (flags win), resolved
 * once into a complete, validated {@linkcode Config}.
 *
 * @module
 */

import type { LlmPrices } from "./llm/llm_prices.ts";
import { LOG_LEVELS, type LogLevel } from "./core/logger.ts";
import {
  duration,
  formatDuration,
  int,
  isDuration,
  list,
  oneOf,
  origins,
  prices,
  redisUrl,
  text,
  url,
  urls,
  webhookSecret,
  yesNo,
} from "./setting_parsers.ts";

/** The resolved settings of the service. */
export interface Config {
  port: number;
  host: string;
  /** Listen with `SO_REUSEPORT`: processes on this host share `port` (with the shared store). */
  reusePort?: boolean;
  llmProvider: "openai" | "offline";
  openaiApiKey: string | undefined;
  openaiBaseUrl: string | undefined;
  llmModel: string;
  llmTimeoutMs: number;
  llmMaxAttempts: number;
  /** Prices per model for the cost of jobs; a model not listed has an unknown cost. */
  llmPrices?: LlmPrices | undefined;
  maxConcurrentJobs: number;
  maxQueuedJobs: number;
  offlineDelayMs: number;
  heartbeatMs: number;
  jobTtlMs: number;
  apiToken: string | undefined;
  corsOrigins: string[];
  logLevel: LogLevel;
  maxBodyBytes: number;
  maxSections: number;
  sectionConcurrency: number;
  shutdownGraceMs: number;
  sseStallMs: number;
  sseClientBuffer: number;
  /** How long the original example's `/progress/{id}` stream stays open after its last message. */
  compatHoldMs: number;
  /**
   * `sqlite` keeps jobs in `dataDir`; `memory` loses them on exit; `redis` shares them between
   * instances. Unset means the embedder's choice: the `quillflow` command picks `sqlite`,
   * `startServer` alone picks `memory`.
   */
  store?: "sqlite" | "memory" | "redis" | undefined;
  /** The data directory; unset means the platform's per-user data folder. */
  dataDir?: string | undefined;
  redisUrl?: string | undefined;
  /** Jobs running at once across every instance sharing the Redis queue; 0 means no such cap. */
  globalConcurrentJobs?: number;
  /** How long a running job's lock lasts without renewal before another instance takes it. */
  jobLockMs?: number;
  /** How long an `Idempotency-Key` is remembered after its first request. */
  idempotencyTtlMs?: number;
  /** Endpoints told of every job's end (Standard Webhooks). */
  webhookUrls?: string[];
  /** Origins a per-job `webhook` URL given at submit may have; none means no per-job webhooks. */
  webhookAllowedOrigins?: string[];
  /** The `whsec_…` secret webhooks are signed with. */
  webhookSecret?: string | undefined;
  /** Whether webhooks may go to loopback, private and link-local addresses. */
  webhookAllowPrivate?: boolean;
  /** How long a webhook that keeps failing is tried again, from the job's end. */
  webhookRetryForMs?: number;
  /** Time limit of one webhook attempt. */
  webhookTimeoutMs?: number;
}

/** Every setting: env name, config key, parser, default, and the help line. */
export const SETTINGS = [
  ["PORT", "port", int(0, 65535), 8000, "Port to listen on (0 picks a free one)."],
  ["HOST", "host", text, "127.0.0.1", "Address to listen on; 0.0.0.0 for every interface."],
  [
    "REUSE_PORT",
    "reusePort",
    yesNo,
    false,
    "1 lets several processes on this host listen on the same PORT (Linux spreads connections over them, one process per core); needs STORE=redis.",
  ],
  [
    "LLM_PROVIDER",
    "llmProvider",
    oneOf(["openai", "offline"]),
    undefined,
    "`openai` or `offline`; default `openai` when OPENAI_API_KEY or OPENAI_BASE_URL is set, else `offline`.",
  ],
  [
    "OPENAI_API_KEY",
    "openaiApiKey",
    text,
    undefined,
    "API key for the openai provider (local servers accept any value).",
  ],
  [
    "OPENAI_BASE_URL",
    "openaiBaseUrl",
    url,
    undefined,
    "Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1.",
  ],
  ["LLM_MODEL", "llmModel", text, "gpt-4o-mini", "Model name for the openai provider."],
  [
    "LLM_TIMEOUT_MS",
    "llmTimeoutMs",
    duration("ms", 1),
    60_000,
    "Time limit of one LLM request attempt.",
  ],
  [
    "LLM_MAX_ATTEMPTS",
    "llmMaxAttempts",
    int(1, 10),
    3,
    "Attempts per LLM call on 408/409/429/5xx, connection errors and timeouts.",
  ],
  [
    "LLM_PRICES",
    "llmPrices",
    prices,
    undefined,
    'Prices for the cost of each job, US dollars per million tokens, as JSON: {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}. A model not listed: cost unknown.',
  ],
  ["MAX_CONCURRENT_JOBS", "maxConcurrentJobs", int(1, 10_000), 4, "Jobs running at once."],
  [
    "MAX_QUEUED_JOBS",
    "maxQueuedJobs",
    int(0, 1_000_000),
    100,
    "Jobs waiting beyond those running; more get 429.",
  ],
  [
    "OFFLINE_DELAY_MS",
    "offlineDelayMs",
    duration("ms", 0),
    600,
    "Offline writer's simulated latency per call (0 allowed).",
  ],
  [
    "HEARTBEAT_MS",
    "heartbeatMs",
    duration("ms", 10),
    15_000,
    "Heartbeat interval of idle event streams.",
  ],
  [
    "JOB_TTL",
    "jobTtlMs",
    duration("s", 1),
    3_600_000,
    "How long finished jobs are kept (e.g. 1h, 90m, 3600).",
  ],
  [
    "API_TOKEN",
    "apiToken",
    text,
    undefined,
    "When set, /api and the compatibility routes require `Authorization: Bearer <token>`.",
  ],
  [
    "CORS_ORIGINS",
    "corsOrigins",
    list,
    [],
    "Comma-separated origins allowed by CORS; empty means CORS off.",
  ],
  ["LOG_LEVEL", "logLevel", oneOf(LOG_LEVELS), "info", "debug, info, warn, error or silent."],
  ["MAX_BODY_BYTES", "maxBodyBytes", int(64, 16_777_216), 16_384, "Largest request body accepted."],
  ["MAX_SECTIONS", "maxSections", int(1, 8), 3, "Most sections in an outline."],
  ["SECTION_CONCURRENCY", "sectionConcurrency", int(1, 64), 3, "Sections written at once per job."],
  [
    "SHUTDOWN_GRACE_MS",
    "shutdownGraceMs",
    duration("ms", 0),
    10_000,
    "On SIGINT/SIGTERM, how long running jobs may finish.",
  ],
  [
    "SSE_STALL_MS",
    "sseStallMs",
    duration("ms", 10),
    30_000,
    "A stream whose client reads nothing for this long is dropped.",
  ],
  [
    "SSE_CLIENT_BUFFER",
    "sseClientBuffer",
    int(1, 100_000),
    64,
    "Events buffered per stream before waiting on the client.",
  ],
  [
    "COMPAT_HOLD_MS",
    "compatHoldMs",
    duration("ms", 0),
    300_000,
    "How long a /progress/{id} stream (the original example's route) stays open after its last message, with heartbeats: that example's page reports any close as a lost connection. 0 closes at once.",
  ],
  [
    "STORE",
    "store",
    oneOf(["sqlite", "memory", "redis"]),
    undefined,
    "`sqlite` keeps jobs in DATA_DIR across restarts (the default; `quillflow mcp`: memory); `memory` forgets them on exit; `redis` shares them between instances through REDIS_URL.",
  ],
  [
    "DATA_DIR",
    "dataDir",
    text,
    undefined,
    "Where the sqlite store lives; default $XDG_DATA_HOME/quillflow or ~/.local/share/quillflow (Linux), ~/Library/Application Support/quillflow (macOS), %LOCALAPPDATA%\\quillflow (Windows).",
  ],
  [
    "REDIS_URL",
    "redisUrl",
    redisUrl,
    undefined,
    "Redis for STORE=redis, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS).",
  ],
  [
    "GLOBAL_CONCURRENT_JOBS",
    "globalConcurrentJobs",
    int(0, 1_000_000),
    0,
    "STORE=redis: jobs running at once across all instances; 0 = only MAX_CONCURRENT_JOBS each.",
  ],
  [
    "JOB_LOCK_MS",
    "jobLockMs",
    duration("ms", 500),
    30_000,
    "STORE=redis: a job whose instance stops renewing its lock this long is resumed elsewhere.",
  ],
  [
    "IDEMPOTENCY_TTL",
    "idempotencyTtlMs",
    duration("s", 1),
    86_400_000,
    "How long an Idempotency-Key of POST /api/jobs is remembered (its first answer is replayed).",
  ],
  [
    "WEBHOOK_URLS",
    "webhookUrls",
    urls,
    [],
    "Comma-separated URLs sent job.completed, job.failed and job.cancelled (Standard Webhooks).",
  ],
  [
    "WEBHOOK_ALLOWED_ORIGINS",
    "webhookAllowedOrigins",
    origins,
    [],
    "Comma-separated origins a job's own `webhook` URL may have; empty means no per-job webhooks.",
  ],
  [
    "WEBHOOK_SECRET",
    "webhookSecret",
    webhookSecret,
    undefined,
    "Signing secret of webhooks, whsec_ then base64 of 24 to 64 random bytes; needed for webhooks.",
  ],
  [
    "WEBHOOK_ALLOW_PRIVATE",
    "webhookAllowPrivate",
    yesNo,
    false,
    "1 lets webhooks go to loopback, private and link-local addresses (refused by default).",
  ],
  [
    "WEBHOOK_RETRY_FOR",
    "webhookRetryForMs",
    duration("s", 1),
    86_400_000,
    "How long a failing webhook is tried again (exponential backoff with jitter), from the job's end.",
  ],
  [
    "WEBHOOK_TIMEOUT",
    "webhookTimeoutMs",
    duration("ms", 100),
    10_000,
    "Time limit of one webhook attempt; a slower answer counts as a failure.",
  ],
] as const;

/** The env name of a setting, such as `JOB_TTL`. */
export type SettingName = (typeof SETTINGS)[number][0];

/**
 * The default of setting `name` as it would be typed, so that typing it means the default
 * (a bare `3600000` would mean 1,000 hours for `JOB_TTL`, whose bare numbers are seconds);
 * `undefined` when there is none.
 *
 * @example
 * ```ts
 * import { defaultText } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(defaultText("JOB_TTL"), "1h");
 * assert.equal(defaultText("PORT"), "8000");
 * assert.equal(defaultText("API_TOKEN"), undefined);
 * ```
 */
export function defaultText(name: SettingName): string | undefined {
  const setting = SETTINGS.find((row) => row[0] === name);
  if (setting === undefined) throw new RangeError(`Unknown setting: ${name}`);
  const [, , parse, fallback] = setting;
  if (fallback === undefined) return undefined;
  if (Array.isArray(fallback)) return fallback.length === 0 ? undefined : fallback.join(",");
  if (typeof fallback === "number" && isDuration(parse)) return formatDuration(fallback);
  return String(fallback);
}

/** The command-line flag of an env name: `MAX_CONCURRENT_JOBS` → `--max-concurrent-jobs`. */
export function flagOf(env: string): string {
  return `--${env.toLowerCase().replaceAll("_", "-")}`;
}

/**
 * Resolves the config from `env` (a lookup) and `args` (`--flag value` or `--flag=value`).
 * Throws a `TypeError` naming the bad setting. Returns the config and the args it did not use.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * const { config } = loadConfig((name) => ({ PORT: "9000" })[name], ["--port", "9001"]);
 * assert.equal(config.port, 9001);
 * assert.equal(config.llmProvider, "offline");
 * ```
 */
export function loadConfig(
  env: (name: string) => string | undefined,
  args: readonly string[] = [],
): { config: Config; rest: string[] } {
  const fromFlags = new Map<string, string>();
  const rest: string[] = [];
  const byFlag = new Map(SETTINGS.map(([name]) => [flagOf(name), name] as const));
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const name = byFlag.get(flag);
    if (!name) {
      rest.push(arg);
      continue;
    }
    const value = eq === -1 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new TypeError(`${flag} needs a value`);
    fromFlags.set(name, value);
  }
  const resolved: Record<string, unknown> = {};
  for (const [name, key, parse, fallback] of SETTINGS) {
    const raw = fromFlags.get(name) ?? env(name);
    resolved[key] = raw === undefined || raw === "" ? fallback : parse(raw, name);
  }
  const config = resolved as unknown as Config;
  config.llmProvider ??= config.openaiApiKey || config.openaiBaseUrl ? "openai" : "offline";
  if (config.llmProvider === "openai" && !config.openaiApiKey && !config.openaiBaseUrl) {
    throw new TypeError(
      "LLM_PROVIDER=openai needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL (for a local server)",
    );
  }
  const webhooks = (config.webhookUrls?.length ?? 0) + (config.webhookAllowedOrigins?.length ?? 0);
  if (webhooks > 0 && !config.webhookSecret) {
    throw new TypeError(
      "WEBHOOK_URLS and WEBHOOK_ALLOWED_ORIGINS need WEBHOOK_SECRET to sign with: whsec_ followed " +
        "by base64 of 24 to 64 random bytes, e.g. whsec_$(head -c 32 /dev/urandom | base64)",
    );
  }
  if (config.store === "redis" && !config.redisUrl) {
    throw new TypeError("STORE=redis needs REDIS_URL, e.g. redis://127.0.0.1:6379");
  }
  if (config.reusePort && config.store !== "redis") {
    // Each process would keep its own jobs: a request reaching another process would not find them.
    throw new TypeError(
      "REUSE_PORT=1 needs STORE=redis: the processes sharing the port must share their jobs",
    );
  }
  return { config, rest };
}
