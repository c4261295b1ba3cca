/**
 * The Worker that checkpoints the SQLite store's write-ahead log, on a connection of its own, so
 * that copying the WAL back into the database file (its writes and `fsync`s, 5-30 ms each time)
 * never blocks the main thread's event loop. It runs `PRAGMA wal_checkpoint(PASSIVE)` when
 * `WalCheckpointer` asks: a passive checkpoint takes no lock the main connection's
 * writes need, so neither ever waits for the other.
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { describeError } from "../core/describe_error.ts";
import { DatabaseSync } from "node:sqlite";
import type { CheckpointReply, CheckpointRequest } from "./wal_checkpoint_messages.ts";

let db: DatabaseSync | undefined;

function reply(message: CheckpointReply): void {
  self.postMessage(message);
}

function checkpoint(path: string): CheckpointReply {
  const started = performance.now();
  try {
    if (!db) {
      db = new DatabaseSync(path);
      // The same durability as the main connection's: a checkpoint syncs the WAL and the file.
      db.exec("PRAGMA synchronous = NORMAL");
    }
    const row = db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get();
    return {
      type: "checkpointed",
      busy: Number(row?.busy ?? 0),
      log: Number(row?.log ?? -1),
      checkpointed: Number(row?.checkpointed ?? -1),
      ms: performance.now() - started,
    };
  } catch (error) {
    return { type: "failed", message: describeError(error) };
  }
}

self.onmessage = (event: MessageEvent<CheckpointRequest>) => {
  const request = event.data;
  if (request.type === "checkpoint") {
    reply(checkpoint(request.path));
    return;
  }
  try {
    db?.close();
  } finally {
    db = undefined;
    reply({ type: "closed" });
    self.close();
  }
};
