/**
 * A small PocketFlow-style workflow engine: nodes with `prep` / `exec` / `post`, retries with
 * backoff and a fallback, sequential and parallel batch nodes, and flows that follow the
 * action each node returns. It knows nothing of HTTP or jobs; cancellation is an AbortSignal
 * checked between steps and handed to every `exec`.
 *
 * @module
 */

import { ChildAbortController } from "../core/child_abort.ts";
import { retry, RetryError } from "../core/retry.ts";

/** What every step of a run can see. */
export interface RunContext {
  /** Aborts the whole run; passed on to LLM calls. */
  signal: AbortSignal;
}

/** What one `exec` attempt can see. */
export interface ExecContext extends RunContext {
  /** 1-based attempt number of this item (each batch item counts its own). */
  attempt: number;
}

/** Retry settings of a node, in the shape of std's `retry`. */
export interface NodeOptions {
  /** Attempts per `exec` (per item for batch nodes). Default 1. */
  maxAttempts?: number;
  /** Wait before the second attempt, in ms. Default 0. */
  minTimeout?: number;
  /** Upper bound of one wait, in ms. Default 10 000. */
  maxTimeout?: number;
  /** Growth factor of the wait. Default 2. */
  multiplier?: number;
  /** Randomised share of each wait, 0 to 1. Default 0.5. */
  jitter?: number;
}

/** The action that follows a node when `post` returns nothing. */
export const DEFAULT_ACTION = "default";

/** Anything a flow can run: it returns the action that picks its successor. */
export abstract class BaseNode<S> {
  #successors = new Map<string, BaseNode<S>>();

  /** Links `node` to follow this one on `action`, and returns `node` for chaining. */
  next<N extends BaseNode<S>>(node: N, action: string = DEFAULT_ACTION): N {
    this.#successors.set(action, node);
    return node;
  }

  /** The node linked for `action`, if any. */
  successor(action: string): BaseNode<S> | undefined {
    return this.#successors.get(action);
  }

  /** Runs the node on `shared` and returns its action. */
  abstract run(shared: S, ctx: RunContext): Promise<string | undefined>;
}

async function execWithRetry<P, E>(
  options: NodeOptions,
  input: P,
  ctx: RunContext,
  exec: (input: P, ctx: ExecContext) => Promise<E>,
  fallback: (input: P, error: unknown, ctx: RunContext) => Promise<E> | E,
): Promise<E> {
  try {
    return await retry((attempt) => exec(input, { signal: ctx.signal, attempt }), {
      maxAttempts: options.maxAttempts ?? 1,
      minTimeout: options.minTimeout ?? 0,
      maxTimeout: options.maxTimeout ?? 10_000,
      multiplier: options.multiplier ?? 2,
      jitter: options.jitter ?? 0.5,
      signal: ctx.signal,
    });
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return await fallback(input, error instanceof RetryError ? error.cause : error, ctx);
  }
}

/**
 * A single step: `prep` reads the shared store, `exec` does the work (retried), `post`
 * writes results back and returns the next action.
 *
 * @example
 * ```ts
 * import { Flow, Node } from "./flow.ts";
 * import assert from "node:assert/strict";
 *
 * class Double extends Node<{ n: number }, number, number> {
 *   override prep(shared: { n: number }) { return shared.n; }
 *   override exec(n: number) { return Promise.resolve(n * 2); }
 *   override post(shared: { n: number }, _p: number, result: number) {
 *     shared.n = result;
 *     return undefined;
 *   }
 * }
 * const shared = { n: 2 };
 * await new Flow(new Double()).run(shared, { signal: new AbortController().signal });
 * assert.equal(shared.n, 4);
 * ```
 */
export abstract class Node<S, P = void, E = void> extends BaseNode<S> {
  /** Retry settings for `exec`. */
  readonly options: NodeOptions;

  /** Creates a node with the given retry settings. */
  constructor(options: NodeOptions = {}) {
    super();
    this.options = options;
  }

  /** Reads what `exec` needs from the shared store. */
  prep(_shared: S, _ctx: RunContext): Promise<P> | P {
    return undefined as P;
  }

  /** Does the work; retried up to `maxAttempts`. */
  abstract exec(input: P, ctx: ExecContext): Promise<E>;

  /** Called with the last error once every attempt failed; rethrows by default. */
  execFallback(_input: P, error: unknown, _ctx: RunContext): Promise<E> | E {
    throw error;
  }

  /** Writes results to the shared store and returns the next action. */
  post(
    _shared: S,
    _input: P,
    _result: E,
    _ctx: RunContext,
  ): Promise<string | undefined> | string | undefined {
    return undefined;
  }

  override async run(shared: S, ctx: RunContext): Promise<string | undefined> {
    ctx.signal.throwIfAborted();
    const input = await this.prep(shared, ctx);
    ctx.signal.throwIfAborted();
    const result = await execWithRetry(
      this.options,
      input,
      ctx,
      (i, c) => this.exec(i, c),
      (i, e, c) => this.execFallback(i, e, c),
    );
    ctx.signal.throwIfAborted();
    return await this.post(shared, input, result, ctx);
  }
}

/** Settings of a batch node: retries per item, and how many items run at once. */
export interface BatchNodeOptions extends NodeOptions {
  /** Items in flight at once; 1 runs them in order. Default 1. */
  concurrency?: number;
}

/**
 * A step over a list: `prep` returns the items, `exec` handles one item (retried on its own,
 * with its own attempt count), `post` receives the results in item order.
 */
export abstract class BatchNode<S, I, R> extends BaseNode<S> {
  /** Retry and concurrency settings. */
  readonly options: BatchNodeOptions;

  /** Creates a batch node; `concurrency` above 1 runs items in parallel. */
  constructor(options: BatchNodeOptions = {}) {
    super();
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(
        `Cannot create batch node as 'concurrency' must be a positive integer: current value is ${concurrency}`,
      );
    }
    this.options = options;
  }

  /** Returns the items to process. */
  abstract prep(shared: S, ctx: RunContext): Promise<I[]> | I[];

  /** Processes one item. */
  abstract exec(item: I, ctx: ExecContext): Promise<R>;

  /** Called for an item whose attempts all failed; rethrows by default. */
  execFallback(_item: I, error: unknown, _ctx: RunContext): Promise<R> | R {
    throw error;
  }

  /** Receives every result, in item order, and returns the next action. */
  post(
    _shared: S,
    _items: I[],
    _results: R[],
    _ctx: RunContext,
  ): Promise<string | undefined> | string | undefined {
    return undefined;
  }

  override async run(shared: S, ctx: RunContext): Promise<string | undefined> {
    ctx.signal.throwIfAborted();
    const items = await this.prep(shared, ctx);
    const results = new Array<R>(items.length);
    // One failed item stops the others: their results would be thrown away anyway.
    using failure = new ChildAbortController(ctx.signal);
    const signal = failure.signal;
    const runOne = (index: number) =>
      execWithRetry(
        this.options,
        items[index] as I,
        { signal },
        (item, c) => this.exec(item, c),
        (item, e, c) => this.execFallback(item, e, c),
      ).then((result) => {
        results[index] = result;
      });
    let nextIndex = 0;
    const worker = async () => {
      while (nextIndex < items.length) {
        signal.throwIfAborted();
        await runOne(nextIndex++);
      }
    };
    const workers = Array.from(
      { length: Math.min(this.options.concurrency ?? 1, items.length) },
      () =>
        worker().catch((error) => {
          failure.abort(error);
          throw error;
        }),
    );
    const settled = await Promise.allSettled(workers);
    ctx.signal.throwIfAborted();
    if (failure.signal.aborted) throw failure.signal.reason;
    const rejected = settled.find((s) => s.status === "rejected");
    if (rejected) throw (rejected as PromiseRejectedResult).reason;
    return await this.post(shared, items, results, ctx);
  }
}

/** Runs nodes from `start`, following each returned action until no successor matches. */
export class Flow<S> extends BaseNode<S> {
  readonly #start: BaseNode<S>;

  /** Creates a flow that begins at `start`. */
  constructor(start: BaseNode<S>) {
    super();
    this.#start = start;
  }

  override async run(shared: S, ctx: RunContext): Promise<string | undefined> {
    let node: BaseNode<S> | undefined = this.#start;
    let action: string | undefined;
    while (node) {
      ctx.signal.throwIfAborted();
      action = await node.run(shared, ctx);
      node = node.successor(action ?? DEFAULT_ACTION);
    }
    return action;
  }
}
