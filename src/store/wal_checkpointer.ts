/**
 * Keeps the SQLite store's write-ahead log small without checkpointing on the main thread.
 *
 * The main connection runs with `wal_autocheckpoint = 0`: SQLite's automatic checkpoint ran
 * inside a `COMMIT` and blocked the event loop for its writes and `fsync`s (7-27 ms every 128
 * pages in the benchmarks). Instead, after each commit this class reads how many frames the WAL
 * holds and how many a checkpoint has copied back (`walState`: the WAL index, `wal_index.ts`),
 * and once `pages` (128, 512 KiB, as before) are left to copy a Worker with its own connection
 * runs a passive checkpoint: about as often as SQLite's `wal_autocheckpoint = 128` did. The
 * store's own estimate of the pages each commit wrote (from the batch, on the high side) is used
 * only when the WAL index cannot be read: it counted two pages per row, nearly twice the real
 * number for small batches, and so ran twice the checkpoints (BENCHMARKS.md 17.4).
 *
 * A passive checkpoint copies what is in the WAL, but the WAL only starts over from its
 * beginning when the main connection writes after a checkpoint that copied all of it with no
 * commit in between. Under steady writes a commit often lands during the checkpoint; when the
 * WAL has grown past 1.5 times `pages` that way, the next checkpoint is a quiet one: the store holds
 * its commits (they wait in its buffer, the loop runs on) until the checkpoint is done, so the
 * WAL then starts over. The WAL stays about as small as with the automatic checkpoint, which a
 * small data disk needs (docs/reliability.md, the full disk).
 *
 * A checkpoint that fails is reported (`onError`, `health`) and tried again after a second. If
 * the Worker cannot start or dies, that is reported the same way and checkpoints run on the main
 * thread again (`checkpointHere`): stalls come back, the WAL stays small.
 *
 * @module
 */

import { describeError } from "../core/describe_error.ts";
import type { CheckpointReply, CheckpointRequest } from "./wal_checkpoint_messages.ts";
import type { WalState } from "./wal_index.ts";

/** A failed checkpoint is tried again after this long, ms. */
const RETRY_MS = 1_000;

/** Settings of a {@linkcode WalCheckpointer}. */
export interface WalCheckpointerOptions {
  /** Told when a checkpoint fails or the worker fails. */
  onError: (error: unknown) => void;
  /** Called when commits that were held for a quiet checkpoint may go on. */
  onRelease: () => void;
  /** Runs a checkpoint on the main connection: the fallback when the worker is gone. */
  checkpointHere: () => void;
  /** WAL pages between checkpoints. Default 128 (512 KiB). */
  pages?: number;
  /** The WAL's real frame counts now, or `undefined` (then the commits' estimates are used). */
  walState?: () => WalState | undefined;
}

/** Where a checkpoint request stands. */
interface InFlight {
  /** Commits are held until it is done. */
  quiet: boolean;
  /** Commits made while it ran, and the pages they wrote. */
  commits: number;
  pages: number;
}

/**
 * Runs WAL checkpoints of the database at `path` in a Worker, as the store's commits fill the
 * WAL; see the module documentation.
 */
export class WalCheckpointer {
  readonly #path: string;
  readonly #pages: number;
  readonly #options: WalCheckpointerOptions;
  #worker: Worker | undefined;
  /**
   * Pages left to copy: read from `walState`, or else the estimates since the last request.
   */
  #unrequested = 0;
  /**
   * Pages in the WAL: read from `walState`, or else at most the worker's count at the last
   * checkpoint and the estimates since.
   */
  #walPages = 0;
  #inFlight: InFlight | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the last checkpoint failed, or why the worker is gone; `null` while all is well. */
  #problem: string | null = null;
  #closed: PromiseWithResolvers<void> | undefined;
  /** Checkpoints done (by the worker or, without it, here); for tests and the benchmark. */
  checkpoints = 0;

  /** Starts the worker for the database file at `path`. */
  constructor(path: string, options: WalCheckpointerOptions) {
    this.#path = path;
    this.#pages = options.pages ?? 128;
    this.#options = options;
    try {
      const worker = new Worker(new URL("./wal_checkpoint_worker.ts", import.meta.url), {
        type: "module",
      });
      worker.onmessage = (event: MessageEvent<CheckpointReply>) => this.#answered(event.data);
      worker.onerror = (event: ErrorEvent) => {
        // Handled here: unhandled, a worker's error ends the whole process.
        event.preventDefault();
        this.#workerFailed(event.error ?? new Error(event.message));
      };
      this.#worker = worker;
    } catch (error) {
      this.#workerFailed(error);
    }
  }

  /** Whether the store must hold its commits until the current (quiet) checkpoint is done. */
  get holdsCommits(): boolean {
    return this.#inFlight?.quiet === true;
  }

  /** Whether a checkpoint is asked for and not yet answered. */
  get checkpointing(): boolean {
    return this.#inFlight !== undefined;
  }

  /** Tells it the store committed about `pages` pages to the WAL (the fallback estimate). */
  committed(pages: number): void {
    this.#unrequested += pages;
    this.#walPages += pages;
    if (this.#inFlight) {
      this.#inFlight.commits++;
      this.#inFlight.pages += pages;
    }
    this.#request();
  }

  /** `null` while checkpoints succeed in the worker; else what is wrong. */
  health(): string | null {
    return this.#problem;
  }

  /** Ends the worker once its current checkpoint is done, its connection closed. */
  async close(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const worker = this.#worker;
    if (!worker) return;
    if (!this.#closed) {
      this.#closed = Promise.withResolvers();
      worker.postMessage({ type: "close" } satisfies CheckpointRequest);
    }
    await this.#closed.promise;
    worker.terminate();
    this.#worker = undefined;
  }

  #request(): void {
    if (this.#inFlight || this.#closed || this.#retryTimer !== undefined) return;
    const state = this.#options.walState?.();
    if (state) {
      this.#walPages = state.frames;
      this.#unrequested = state.frames - state.backfilled;
    }
    if (this.#unrequested < this.#pages) return;
    this.#unrequested = 0;
    if (!this.#worker) {
      this.#checkpointHere();
      return;
    }
    // The last checkpoint left a WAL that did not start over: this one holds the commits.
    this.#inFlight = { quiet: this.#walPages >= 1.5 * this.#pages, commits: 0, pages: 0 };
    this.#worker.postMessage({ type: "checkpoint", path: this.#path } satisfies CheckpointRequest);
  }

  #answered(reply: CheckpointReply): void {
    if (reply.type === "closed") {
      this.#closed?.resolve();
      return;
    }
    const request = this.#inFlight;
    this.#inFlight = undefined;
    if (reply.type === "failed") {
      this.#failed(reply.message);
    } else {
      this.checkpoints++;
      this.#problem = null;
      // All of it copied and nothing written since: the next commit starts the WAL over. Else
      // the WAL holds what it counted (exact) and, at most, what was written meanwhile.
      const whole = reply.busy === 0 && reply.log === reply.checkpointed;
      this.#walPages = whole && request?.commits === 0 ? 0 : reply.log + (request?.pages ?? 0);
    }
    if (request?.quiet) this.#options.onRelease();
    this.#request();
  }

  #failed(message: string): void {
    this.#problem = `cannot checkpoint the write-ahead log: ${message}`;
    this.#options.onError(new Error(this.#problem));
    // What it did not copy is still to be copied: ask again, after a pause.
    this.#unrequested = Math.max(this.#unrequested, this.#pages);
    if (this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#request();
    }, RETRY_MS);
  }

  #workerFailed(error: unknown): void {
    const held = this.#inFlight?.quiet === true;
    this.#inFlight = undefined;
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#closed?.resolve();
    const reason = describeError(error);
    this.#options.onError(
      new Error(
        `the WAL checkpoint worker failed (${reason}); checkpoints run on the main thread`,
        {
          cause: error,
        },
      ),
    );
    this.#problem = `checkpoints run on the main thread: their worker failed (${reason})`;
    if (held) this.#options.onRelease();
  }

  #checkpointHere(): void {
    try {
      this.#options.checkpointHere();
      this.checkpoints++;
      // Nothing else writes meanwhile on this thread: it copied all of the WAL.
      this.#walPages = 0;
    } catch (error) {
      this.#options.onError(error);
    }
  }
}
