/**
 * Webhook deliveries waiting to be made, and the interface of the places that keep them: in
 * process memory, in the SQLite file beside the jobs, or in Redis for every instance.
 *
 * @module
 */

/** One event to send to one endpoint, until it is delivered or given up. */
export interface Delivery {
  /** One per event per endpoint: the webhook id and the endpoint. */
  readonly id: string;
  /** The `webhook-id` header, the same on every attempt and every endpoint of the event. */
  readonly webhookId: string;
  /** Where it goes. */
  readonly endpoint: string;
  /** The JSON body, signed and sent as it is on every attempt. */
  readonly body: string;
  /** When the event happened, in epoch ms: retries stop `WEBHOOK_RETRY_FOR` after it. */
  readonly createdAt: number;
  /** Attempts made so far, all failed. */
  attempts: number;
  /** When the next attempt is due, in epoch ms. */
  dueAt: number;
  /** Set by `claim`: the lease that lets only its holder end or reschedule the delivery. */
  lease?: number;
}

/**
 * Where deliveries wait. A delivery is created once per event per endpoint, with the write that
 * ends its job, and is leased to one sender at a time: however many instances poll, each
 * delivery has one sender, and one whose sender died is claimed again after its lease.
 */
export interface Outbox {
  /**
   * Records the deliveries of a job's end; called in the same turn as the write of that end,
   * so a store that groups writes commits both together. A delivery already recorded (same
   * `id`) is left as it is. Failures are the store's to report and retry.
   */
  add(deliveries: readonly Delivery[]): void;
  /** Up to `max` deliveries due now, each leased to the caller for `leaseMs`. */
  claim(max: number, leaseMs: number): Promise<Delivery[]>;
  /** Records a failed attempt of a claimed delivery: `attempts` and `dueAt` as set. */
  retry(delivery: Delivery): Promise<void>;
  /** Forgets a claimed delivery: delivered, or given up. */
  remove(delivery: Delivery): Promise<void>;
  /** Gives a claimed delivery back, due at once, for another sender (this one is stopping). */
  release(delivery: Delivery): Promise<void>;
  /** Releases what the outbox holds open. */
  close(): Promise<void>;
}
