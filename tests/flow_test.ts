import assert from "node:assert/strict";
import { BatchNode, type ExecContext, Flow, Node } from "../src/workflow/flow.ts";
import { retry, RetryError } from "../src/core/retry.ts";

interface Shared {
  log: string[];
  value?: number;
}

const run = (flow: Flow<Shared>, shared: Shared, signal = new AbortController().signal) =>
  flow.run(shared, { signal });

class Step extends Node<Shared, void, string> {
  readonly #name: string;
  readonly #action: string | undefined;
  constructor(name: string, action?: string) {
    super();
    this.#name = name;
    this.#action = action;
  }
  override exec(): Promise<string> {
    return Promise.resolve(this.#name);
  }
  override post(shared: Shared, _: void, name: string): string | undefined {
    shared.log.push(name);
    return this.#action;
  }
}

Deno.test("Flow follows the action each node's post returns", async (t) => {
  await t.step("default action chains nodes in order", async () => {
    const a = new Step("a");
    a.next(new Step("b")).next(new Step("c"));
    const shared: Shared = { log: [] };
    await run(new Flow(a), shared);
    assert.deepEqual(shared.log, ["a", "b", "c"]);
  });
  await t.step("a named action picks its branch and an unknown action ends the flow", async () => {
    const start = new Step("start", "right");
    start.next(new Step("left"), "left");
    start.next(new Step("right", "nowhere"), "right").next(new Step("never"));
    const shared: Shared = { log: [] };
    const last = await run(new Flow(start), shared);
    assert.deepEqual(shared.log, ["start", "right"]);
    assert.equal(last, "nowhere");
  });
  await t.step("a flow nests inside a flow as a node", async () => {
    const inner = new Flow(new Step("inner"));
    const outer = new Step("outer");
    outer.next(inner).next(new Step("after"));
    const shared: Shared = { log: [] };
    await run(new Flow(outer), shared);
    assert.deepEqual(shared.log, ["outer", "inner", "after"]);
  });
});

class Flaky extends Node<Shared, void, number> {
  attempts: number[] = [];
  readonly #failures: number;
  constructor(failures: number, maxAttempts: number) {
    super({ maxAttempts, minTimeout: 1 });
    this.#failures = failures;
  }
  override exec(_: void, ctx: ExecContext): Promise<number> {
    this.attempts.push(ctx.attempt);
    if (ctx.attempt <= this.#failures) return Promise.reject(new Error(`failure ${ctx.attempt}`));
    return Promise.resolve(ctx.attempt);
  }
  override post(shared: Shared, _: void, value: number): undefined {
    shared.value = value;
  }
}

class WithFallback extends Flaky {
  fallbackError: unknown;
  override execFallback(_: void, error: unknown): number {
    this.fallbackError = error;
    return -1;
  }
}

Deno.test("Node retries exec, then falls back", async (t) => {
  await t.step("succeeds on the third of three attempts", async () => {
    const node = new Flaky(2, 3);
    const shared: Shared = { log: [] };
    await run(new Flow(node), shared);
    assert.deepEqual(node.attempts, [1, 2, 3]);
    assert.equal(shared.value, 3);
  });
  await t.step("rethrows the last error when attempts run out and no fallback exists", async () => {
    const node = new Flaky(5, 2);
    await assert.rejects(run(new Flow(node), { log: [] }), /failure 2/);
    assert.deepEqual(node.attempts, [1, 2]);
  });
  await t.step("execFallback receives the last error and its result goes to post", async () => {
    const node = new WithFallback(5, 2);
    const shared: Shared = { log: [] };
    await run(new Flow(node), shared);
    assert.equal(shared.value, -1);
    assert.match(String(node.fallbackError), /failure 2/);
  });
});

class Sections extends BatchNode<Shared, number, string> {
  attemptsByItem = new Map<number, number[]>();
  inFlight = 0;
  maxInFlight = 0;
  readonly #failFirst: Set<number>;
  constructor(concurrency: number, failFirst: number[], maxAttempts = 2) {
    super({ concurrency, maxAttempts, minTimeout: 1 });
    this.#failFirst = new Set(failFirst);
  }
  override prep(): number[] {
    return [0, 1, 2, 3, 4];
  }
  override async exec(item: number, ctx: ExecContext): Promise<string> {
    this.attemptsByItem.set(item, [...(this.attemptsByItem.get(item) ?? []), ctx.attempt]);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.inFlight--;
    if (ctx.attempt === 1 && this.#failFirst.has(item)) throw new Error(`item ${item} failed once`);
    return `s${item}`;
  }
  override post(shared: Shared, _items: number[], results: string[]): undefined {
    shared.log.push(...results);
  }
}

Deno.test("BatchNode runs items with their own retry counts", async (t) => {
  await t.step("sequential: one at a time, results in item order", async () => {
    const node = new Sections(1, []);
    const shared: Shared = { log: [] };
    await run(new Flow(node), shared);
    assert.equal(node.maxInFlight, 1);
    assert.deepEqual(shared.log, ["s0", "s1", "s2", "s3", "s4"]);
  });
  await t.step("parallel: bounded concurrency, results still in item order", async () => {
    const node = new Sections(3, []);
    const shared: Shared = { log: [] };
    await run(new Flow(node), shared);
    assert.equal(node.maxInFlight, 3);
    assert.deepEqual(shared.log, ["s0", "s1", "s2", "s3", "s4"]);
  });
  await t.step(
    "parallel: each failing item gets its own attempts (no shared counter)",
    async () => {
      // With a shared counter (the npm pocketflow bug), three first-try failures would exhaust
      // maxAttempts 2 across items and fail the batch.
      const node = new Sections(5, [0, 2, 4], 2);
      const shared: Shared = { log: [] };
      await run(new Flow(node), shared);
      assert.deepEqual(node.attemptsByItem.get(0), [1, 2]);
      assert.deepEqual(node.attemptsByItem.get(1), [1]);
      assert.deepEqual(node.attemptsByItem.get(4), [1, 2]);
      assert.deepEqual(shared.log, ["s0", "s1", "s2", "s3", "s4"]);
    },
  );
});

Deno.test("Flow honours its AbortSignal between steps and inside exec", async (t) => {
  await t.step("an aborted signal stops the flow before the next node", async () => {
    const controller = new AbortController();
    class Stopper extends Step {
      override post(shared: Shared, p: void, name: string) {
        controller.abort(new Error("stop"));
        return super.post(shared, p, name);
      }
    }
    const start = new Stopper("first");
    start.next(new Step("second"));
    const shared: Shared = { log: [] };
    await assert.rejects(run(new Flow(start), shared, controller.signal), /stop/);
    assert.deepEqual(shared.log, ["first"]);
  });
  await t.step("exec receives the signal and a retry wait is cut short", async () => {
    const controller = new AbortController();
    let seen: AbortSignal | undefined;
    class Waits extends Node<Shared, void, void> {
      constructor() {
        // An hour's wait: not cut short, the run would outlast the hang bound below by far.
        super({ maxAttempts: 5, minTimeout: 3_600_000, maxTimeout: 3_600_000, jitter: 0 });
      }
      override exec(_: void, ctx: ExecContext): Promise<void> {
        seen = ctx.signal;
        attempts++;
        setTimeout(() => controller.abort(new Error("cancelled")), 5);
        return Promise.reject(new Error("try again"));
      }
    }
    let attempts = 0;
    let hang: ReturnType<typeof setTimeout> | undefined;
    const ran = run(new Flow(new Waits()), { log: [] }, controller.signal);
    const outcome = await Promise.race([
      ran.then(() => "resolved", (error: Error) => error.message),
      new Promise((resolve) => hang = setTimeout(resolve, 30_000, "still waiting after 30 s")),
    ]);
    clearTimeout(hang);
    assert.equal(outcome, "cancelled");
    assert.equal(attempts, 1, "no attempt after the abort");
    assert.equal(seen?.aborted, true);
  });
});

Deno.test("retry() validates options and wraps the last error", async () => {
  await assert.rejects(retry(() => Promise.resolve(1), { maxAttempts: 0 }), RangeError);
  const error = await retry(() => Promise.reject(new Error("boom")), {
    maxAttempts: 2,
    minTimeout: 1,
  }).catch((e) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 2);
  assert.equal((error.cause as Error).message, "boom");
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new TypeError("fatal"));
    }, { isRetryable: (e) => !(e instanceof TypeError) }),
    TypeError,
  );
  assert.equal(calls, 1);
});
