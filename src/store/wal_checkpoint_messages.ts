/**
 * The messages between `WalCheckpointer` and its Worker (`wal_checkpoint_worker.ts`).
 *
 * @module
 */

/** From the store to the worker: checkpoint the file at `path` now, or close and end. */
export type CheckpointRequest = { type: "checkpoint"; path: string } | { type: "close" };

/** From the worker: what a checkpoint did (the columns of `PRAGMA wal_checkpoint`), or why not. */
export type CheckpointReply =
  | {
    type: "checkpointed";
    /** 1 when it could not finish (another connection held a lock it needed). */
    busy: number;
    /** Frames in the WAL. */
    log: number;
    /** Frames of it copied into the database file. */
    checkpointed: number;
    /** How long it took, ms. */
    ms: number;
  }
  | { type: "failed"; message: string }
  | { type: "closed" };
