/**
 * The admission count every instance sharing a BullMQ queue takes part in: a place reserved by
 * the `ADMIT` script for each submit, and this instance's running slots, kept in the count by a
 * lease it renews (`RENEW`) and takes out when it stops.
 *
 * @module
 */

import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { QueueFullError } from "./admission.ts";
import { ADMIT, type protocolKeys, RENEW, withTimeout } from "./bullmq_protocol.ts";
import type { Logger } from "../core/logger.ts";
import { describeError } from "../core/describe_error.ts";

/** How long a place reserved by `admit` is kept for a job its instance never added, in ms. */
const RESERVATION_MS = 30_000;
/** How long an instance's running slots count after its last renewal, at the least, in ms. */
const MIN_LEASE_MS = 10_000;

/** What a {@linkcode BullmqAdmission} counts with. */
export interface BullmqAdmissionOptions {
  /** A connection for commands. */
  commands: Redis;
  /** The shared queue, whose lists are counted. */
  queue: Queue<{ id: string }>;
  /** The protocol's keys under the queue's prefix. */
  keys: ReturnType<typeof protocolKeys>;
  /** This instance's running slots. */
  concurrency: number;
  /** Jobs waiting across all instances beyond which submits are refused. */
  maxQueued: number;
  /** Structured logs. */
  logger: Logger;
}

/** This instance's part in the admission count of a shared BullMQ queue. */
export class BullmqAdmission {
  readonly #options: BullmqAdmissionOptions;
  /** This instance's running slots in the admission count: `<id>|<slots>`. */
  readonly #member: string;
  #renewTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: BullmqAdmissionOptions) {
    this.#options = options;
    this.#member = `${crypto.randomUUID()}|${options.concurrency}`;
  }

  /** Reserves a place for job `id`, or throws {@linkcode QueueFullError}. */
  async admit(id: string): Promise<void> {
    const { commands, queue, keys, maxQueued } = this.#options;
    const admitted = await withTimeout(commands.eval(
      ADMIT,
      8,
      ...["wait", "active", "paused", "delayed", "prioritized", "meta"].map((l) => queue.toKey(l)),
      keys.workers,
      keys.reservations,
      id,
      maxQueued,
      RESERVATION_MS,
      queue.toKey(""), // a job's hash is this plus its id
    ));
    if (admitted !== 1) throw new QueueFullError(maxQueued, 5);
  }

  /** Gives back the place reserved for job `id`. */
  async unreserve(id: string): Promise<void> {
    await withTimeout(this.#options.commands.zrem(this.#options.keys.reservations, id));
  }

  /** Adds this instance's running slots to the count and keeps them there. */
  async join(lockMs: number): Promise<void> {
    const { commands, keys, logger } = this.#options;
    // Its slots count while it renews its lease, and a while after it dies.
    const leaseMs = Math.max(2 * lockMs, MIN_LEASE_MS);
    const renew = () => withTimeout(commands.eval(RENEW, 1, keys.workers, this.#member, leaseMs));
    await renew();
    this.#renewTimer = setInterval(() => {
      renew().catch((error) =>
        logger.log("warn", "lease not renewed", { error: describeError(error) })
      );
    }, Math.floor(leaseMs / 4));
  }

  /** Takes this instance's running slots out of the admission count, if they are in it. */
  async leave(): Promise<void> {
    if (this.#renewTimer === undefined) return;
    clearInterval(this.#renewTimer);
    this.#renewTimer = undefined;
    const { commands, keys } = this.#options;
    await withTimeout(commands.zrem(keys.workers, this.#member)).catch(() => {});
  }
}
