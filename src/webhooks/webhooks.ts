/**
 * Signed webhooks of jobs' ends, wired for one store: the outbox beside the jobs (memory, the
 * SQLite file, or Redis), the sender, the per-job webhook rules, and the job manager's hook that
 * records each end's deliveries with the write of that end.
 *
 * @module
 */

import type { JobRecord } from "../core/job.ts";
import type { JobStore } from "../core/job_store.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import type { Reading } from "../core/reading.ts";
import { describeError } from "../core/describe_error.ts";
import { SqliteJobStore } from "../store/sqlite_job_store.ts";
import { DestinationGuard, type ResolveAddresses } from "./destination_guard.ts";
import { deliveriesOfEnd } from "./job_end_event.ts";
import { JobWebhookPolicy } from "./job_webhook_policy.ts";
import { LocalOutbox } from "./local_outbox.ts";
import type { Outbox } from "./outbox.ts";
import { SqliteDeliveryTable } from "./sqlite_delivery_table.ts";
import { WebhookSender, type WebhookSenderOptions } from "./webhook_sender.ts";
import { WebhookSigner } from "./webhook_signer.ts";

/** The webhook settings (the `WEBHOOK_*` rows of `src/config.ts`; a `Config` is one). */
export interface WebhookSettings {
  /** Endpoints told of every job's end. */
  webhookUrls?: string[];
  /** Origins a per-job `webhook` URL may have; none means no per-job webhooks. */
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

/** Options of {@linkcode Webhooks.start}. */
export interface WebhooksOptions {
  /** The job store: the outbox lives beside its jobs. */
  store: JobStore;
  /** `STORE=redis`: the Redis the store uses; its outbox is shared by every instance. */
  redisUrl?: string | undefined;
  /** Logs. */
  logger?: Logger;
  /** The `user-agent` of attempts. */
  userAgent?: string;
  /** How names are resolved for the destination check; DNS by default. */
  resolve?: ResolveAddresses;
  /** Backoff and polling, for tests (see {@linkcode WebhookSenderOptions}). */
  sender?: Pick<WebhookSenderOptions, "minRetryMs" | "maxRetryMs" | "pollMs">;
}

/** Whether `config` asks for webhooks: endpoints, or origins for per-job ones. */
export function webhooksWanted(config: WebhookSettings): boolean {
  return (config.webhookUrls?.length ?? 0) + (config.webhookAllowedOrigins?.length ?? 0) > 0;
}

/** The guard `config` asks for. */
export function destinationGuard(
  config: WebhookSettings,
  resolve?: ResolveAddresses,
): DestinationGuard {
  return new DestinationGuard({
    allowPrivate: config.webhookAllowPrivate ?? false,
    ...(resolve ? { resolve } : {}),
  });
}

/** Webhooks running for one service instance; `stop` before closing the store. */
export class Webhooks {
  /** The per-job webhook rules, for submits. */
  readonly policy: JobWebhookPolicy;
  readonly #urls: readonly string[];
  readonly #outbox: Outbox;
  readonly #sender: WebhookSender;
  readonly #logger: Logger;

  private constructor(
    config: WebhookSettings,
    outbox: Outbox,
    sender: WebhookSender,
    policy: JobWebhookPolicy,
    logger: Logger,
  ) {
    this.#urls = config.webhookUrls ?? [];
    this.#outbox = outbox;
    this.#sender = sender;
    this.policy = policy;
    this.#logger = logger;
  }

  /**
   * Opens the outbox for `options.store` and starts sending. Throws a `TypeError` for a bad
   * `WEBHOOK_SECRET`, and a `StoreUnavailableError` when Redis does not answer.
   */
  static async start(config: WebhookSettings, options: WebhooksOptions): Promise<Webhooks> {
    const logger = options.logger ?? silentLogger;
    const urls = config.webhookUrls ?? [];
    const signer = await WebhookSigner.create(config.webhookSecret ?? "");
    const guard = destinationGuard(config, options.resolve);
    const outbox = await openOutbox(options, urls, logger);
    const sender = new WebhookSender({
      outbox,
      signer,
      guard,
      timeoutMs: config.webhookTimeoutMs ?? 10_000,
      retryForMs: config.webhookRetryForMs ?? 86_400_000,
      logger,
      ...(options.userAgent ? { userAgent: options.userAgent } : {}),
      ...options.sender,
    });
    const policy = new JobWebhookPolicy(config.webhookAllowedOrigins ?? [], guard);
    const webhooks = new Webhooks(config, outbox, sender, policy, logger);
    sender.start();
    return webhooks;
  }

  /**
   * The job manager's hook: records the deliveries of `record`'s end. Called in the same turn
   * as the write of that end, so the SQLite store commits both in one transaction.
   */
  readonly onEnd = (record: JobRecord): void => {
    try {
      this.#outbox.add(deliveriesOfEnd(record, this.#urls));
    } catch (error) {
      this.#logger.log("error", "webhook deliveries not recorded", {
        job: record.id,
        error: describeError(error),
      });
    }
    this.#sender.nudge();
  };

  /** Counters for `/metrics`. */
  readings(): Record<string, Reading> {
    return this.#sender.readings();
  }

  /** Stops sending (attempts under way are given back) and closes the outbox. */
  async stop(): Promise<void> {
    await this.#sender.stop();
    await this.#outbox.close();
  }
}

async function openOutbox(
  options: WebhooksOptions,
  urls: readonly string[],
  logger: Logger,
): Promise<Outbox> {
  const { store, redisUrl } = options;
  if (redisUrl !== undefined) {
    // Loaded only for STORE=redis, as the store itself is.
    const { RedisOutbox } = await import("./redis_outbox.ts");
    return await RedisOutbox.connect({
      url: redisUrl,
      getJob: (id) => store.get(id),
      deliveriesOf: (record) => deliveriesOfEnd(record, urls),
    });
  }
  if (store instanceof SqliteJobStore) {
    return new LocalOutbox(
      new SqliteDeliveryTable(store),
      (error) =>
        logger.log("warn", "webhook delivery not stored yet; will retry", {
          error: describeError(error),
        }),
    );
  }
  return new LocalOutbox();
}
