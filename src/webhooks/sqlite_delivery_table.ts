/**
 * Pending webhook deliveries in the job store's SQLite file, written in the store's batches: a
 * job's end and its deliveries are committed in one transaction, so after a crash either both
 * are there or neither is.
 *
 * @module
 */

import type { StatementSync } from "node:sqlite";
import type { SqliteJobStore } from "../store/sqlite_job_store.ts";
import type { DeliveryTable } from "./local_outbox.ts";
import type { Delivery } from "./outbox.ts";

/**
 * The `webhook_deliveries` table of `store`'s file, created if needed.
 *
 * @example
 * ```ts
 * import { SqliteJobStore } from "../store/sqlite_job_store.ts";
 * import { SqliteDeliveryTable } from "./sqlite_delivery_table.ts";
 * import assert from "node:assert/strict";
 *
 * const store = SqliteJobStore.open(":memory:");
 * const table = new SqliteDeliveryTable(store);
 * await table.insert({ id: "d", webhookId: "msg_1", endpoint: "https://a.example/", body: "{}", createdAt: 0, attempts: 0, dueAt: 5 });
 * assert.deepEqual(table.load().map((d) => [d.id, d.dueAt]), [["d", 5]]);
 * assert.equal(table.body("d"), "{}");
 * await store.close();
 * ```
 */
export class SqliteDeliveryTable implements DeliveryTable {
  readonly #store: SqliteJobStore;
  readonly #insert: StatementSync;
  readonly #update: StatementSync;
  readonly #delete: StatementSync;
  readonly #load: StatementSync;
  readonly #body: StatementSync;

  /** Opens the table in `store`'s file. */
  constructor(store: SqliteJobStore) {
    this.#store = store;
    const db = store.database;
    db.exec(`
      CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id TEXT PRIMARY KEY,
        webhook_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        body TEXT NOT NULL
      )
    `);
    this.#insert = db.prepare(
      "INSERT OR IGNORE INTO webhook_deliveries " +
        "(id, webhook_id, endpoint, created_at, attempts, due_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.#update = db.prepare(
      "UPDATE webhook_deliveries SET attempts = ?, due_at = ? WHERE id = ?",
    );
    this.#delete = db.prepare("DELETE FROM webhook_deliveries WHERE id = ?");
    this.#load = db.prepare(
      "SELECT id, webhook_id, endpoint, created_at, attempts, due_at FROM webhook_deliveries " +
        "ORDER BY due_at",
    );
    this.#body = db.prepare("SELECT body FROM webhook_deliveries WHERE id = ?");
  }

  load(): Omit<Delivery, "body">[] {
    return this.#load.all().map((row) => ({
      id: String(row.id),
      webhookId: String(row.webhook_id),
      endpoint: String(row.endpoint),
      createdAt: Number(row.created_at),
      attempts: Number(row.attempts),
      dueAt: Number(row.due_at),
    }));
  }

  body(id: string): string | undefined {
    const row = this.#body.get(id);
    return row ? String(row.body) : undefined;
  }

  insert(d: Delivery): Promise<void> {
    return this.#store.alsoWrite(() =>
      this.#insert.run(d.id, d.webhookId, d.endpoint, d.createdAt, d.attempts, d.dueAt, d.body)
    );
  }

  update(d: Delivery): Promise<void> {
    return this.#store.alsoWrite(() => this.#update.run(d.attempts, d.dueAt, d.id));
  }

  delete(id: string): Promise<void> {
    return this.#store.alsoWrite(() => this.#delete.run(id));
  }
}
