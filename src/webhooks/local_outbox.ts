/**
 * The outbox of a service whose jobs live in one process: memory, or the SQLite file. One
 * process owns the deliveries, so leases are kept in memory; with a table behind it, every
 * change is written through to it and pending deliveries outlive the process.
 *
 * @module
 */

import { ReleasingMap } from "../core/releasing_map.ts";
import type { Delivery, Outbox } from "./outbox.ts";

/** Where a {@linkcode LocalOutbox} keeps its deliveries across restarts. */
export interface DeliveryTable {
  /** Every pending delivery, without its body (read when due, with `body`). */
  load(): Omit<Delivery, "body">[];
  /** The body of delivery `id`, if it is kept. */
  body(id: string): string | undefined;
  /**
   * Writes a new delivery (kept as it is when `id` exists) in the same transaction as what the
   * same turn wrote to the job store; resolves once that is in the file.
   */
  insert(delivery: Delivery): Promise<void>;
  /** Writes `attempts` and `dueAt` of a delivery. */
  update(delivery: Delivery): Promise<void>;
  /** Deletes a delivery. */
  delete(id: string): Promise<void>;
}

interface Slot {
  delivery: Omit<Delivery, "body">;
  /** Kept in memory until the table has it. */
  body: string | undefined;
  leasedUntil: number;
}

/**
 * Deliveries in process memory, written through to a {@linkcode DeliveryTable} when there is
 * one; bodies are then read back from it when due, so a long backlog costs little memory.
 *
 * @example
 * ```ts
 * import { LocalOutbox } from "./local_outbox.ts";
 * import assert from "node:assert/strict";
 *
 * const outbox = new LocalOutbox();
 * const delivery = { id: "d", webhookId: "msg_1", endpoint: "https://a.example/", body: "{}", createdAt: 0, attempts: 0, dueAt: 0 };
 * outbox.add([delivery, { ...delivery }]);
 * const [claimed, ...others] = await outbox.claim(10, 1_000);
 * assert.equal(claimed?.id, "d");
 * assert.equal(others.length, 0, "added once");
 * assert.deepEqual(await outbox.claim(10, 1_000), [], "leased");
 * await outbox.remove(claimed!);
 * ```
 */
export class LocalOutbox implements Outbox {
  readonly #slots = new ReleasingMap<string, Slot>();
  readonly #table: DeliveryTable | undefined;
  readonly #onError: (error: unknown) => void;

  /** Creates the outbox, with the deliveries `table` holds from before. */
  constructor(table?: DeliveryTable, onError: (error: unknown) => void = () => {}) {
    this.#table = table;
    this.#onError = onError;
    for (const delivery of table?.load() ?? []) {
      this.#slots.set(delivery.id, { delivery, body: undefined, leasedUntil: 0 });
    }
  }

  /** Deliveries waiting or being attempted. */
  get size(): number {
    return this.#slots.size;
  }

  add(deliveries: readonly Delivery[]): void {
    for (const delivery of deliveries) {
      if (this.#slots.has(delivery.id)) continue;
      const { body, ...rest } = delivery;
      const slot: Slot = { delivery: rest, body, leasedUntil: 0 };
      this.#slots.set(delivery.id, slot);
      this.#table?.insert(delivery).then(
        () => slot.body = undefined,
        // The store keeps the write and tries again; meanwhile the body stays here.
        this.#onError,
      );
    }
  }

  claim(max: number, leaseMs: number): Promise<Delivery[]> {
    const now = Date.now();
    const due: Delivery[] = [];
    for (const [id, slot] of this.#slots) {
      if (due.length >= max) break;
      if (slot.delivery.dueAt > now || slot.leasedUntil > now) continue;
      const body = slot.body ?? this.#table?.body(id);
      if (body === undefined) {
        this.#slots.delete(id); // nothing left to send
        continue;
      }
      slot.leasedUntil = now + leaseMs;
      due.push({ ...slot.delivery, body, lease: slot.leasedUntil });
    }
    return Promise.resolve(due);
  }

  retry(delivery: Delivery): Promise<void> {
    const slot = this.#held(delivery);
    if (!slot) return Promise.resolve();
    slot.delivery.attempts = delivery.attempts;
    slot.delivery.dueAt = delivery.dueAt;
    slot.leasedUntil = 0;
    return this.#table?.update(delivery) ?? Promise.resolve();
  }

  remove(delivery: Delivery): Promise<void> {
    if (!this.#held(delivery)) return Promise.resolve();
    this.#slots.delete(delivery.id);
    return this.#table?.delete(delivery.id) ?? Promise.resolve();
  }

  release(delivery: Delivery): Promise<void> {
    const slot = this.#held(delivery);
    if (slot) slot.leasedUntil = 0;
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The slot of `delivery` if its claim still holds it. */
  #held(delivery: Delivery): Slot | undefined {
    const slot = this.#slots.get(delivery.id);
    return slot && slot.leasedUntil === delivery.lease ? slot : undefined;
  }
}
