import assert from "node:assert/strict";
import type { JobRecord } from "../src/core/job.ts";
import { QueueFullError } from "../src/jobs/admission.ts";
import type { JobRunner, RunOutcome } from "../src/jobs/job_dispatcher.ts";
import { LocalDispatcher } from "../src/jobs/local_dispatcher.ts";

function record(id: string): JobRecord {
  return {
    id,
    topic: id,
    status: "queued",
    progress: 0,
    step: null,
    provider: "fake",
    model: null,
    createdAt: 0,
    lastEventId: 1,
  };
}

/** A runner whose runs end when the test says. */
class FakeRunner implements JobRunner {
  readonly started: string[] = [];
  readonly ended: string[] = [];
  readonly #finish = new Map<string, () => void>();

  execute(record: JobRecord): Promise<RunOutcome> {
    this.started.push(record.id);
    const { promise, resolve } = Promise.withResolvers<RunOutcome>();
    this.#finish.set(record.id, () => resolve("ended"));
    return promise;
  }
  finish(id: string): void {
    this.#finish.get(id)?.();
  }
  cancelRun(): JobRecord | undefined {
    return undefined;
  }
  endWaiting(record: JobRecord): Promise<JobRecord> {
    this.ended.push(record.id);
    record.status = "cancelled";
    return Promise.resolve(record);
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("LocalDispatcher admits, lines up and runs jobs in this process", async (t) => {
  await t.step("a burst in one tick gets exactly running + waiting places", async () => {
    const dispatcher = new LocalDispatcher({ running: 2, waiting: 3, durable: false });
    const answers = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => dispatcher.admit(`j${i}`)),
    );
    assert.equal(answers.filter((a) => a.status === "fulfilled").length, 5);
    for (const answer of answers.filter((a) => a.status === "rejected")) {
      assert.ok((answer as PromiseRejectedResult).reason instanceof QueueFullError);
    }
  });

  await t.step("jobs run first come first served, at most `running` at once", async () => {
    const dispatcher = new LocalDispatcher({ running: 1, waiting: 5, durable: false });
    const runner = new FakeRunner();
    dispatcher.attach(runner);
    for (const id of ["a", "b", "c"]) {
      await dispatcher.admit(id);
      assert.equal(await dispatcher.enqueue(record(id)), "here");
    }
    assert.deepEqual(runner.started, ["a"]);
    assert.equal(dispatcher.waiting, 2);
    assert.equal(dispatcher.peek("b")?.id, "b", "a waiting job is found without the store");
    assert.equal(dispatcher.peek("a"), undefined, "a running one is the runner's");
    runner.finish("a");
    await settle();
    assert.deepEqual(runner.started, ["a", "b"]);
    runner.finish("b");
    await settle();
    runner.finish("c");
    await settle();
    assert.deepEqual(runner.started, ["a", "b", "c"]);
    // Every place came back.
    await Promise.all(["x", "y", "z", "v", "w", "u"].map((id) => dispatcher.admit(id)));
  });

  await t.step("a waiting job is cancelled without running", async () => {
    const dispatcher = new LocalDispatcher({ running: 1, waiting: 5, durable: false });
    const runner = new FakeRunner();
    dispatcher.attach(runner);
    for (const id of ["a", "b"]) {
      await dispatcher.admit(id);
      await dispatcher.enqueue(record(id));
    }
    const cancelled = await dispatcher.cancel("b", "no");
    assert.equal(cancelled?.status, "cancelled");
    assert.equal(await dispatcher.cancel("a", "no"), undefined, "running: not the line's to end");
    runner.finish("a");
    await settle();
    assert.deepEqual(runner.started, ["a"]);
  });

  await t.step(
    "shutdown cancels the line in memory, and leaves it for a durable store",
    async () => {
      for (const durable of [false, true]) {
        const dispatcher = new LocalDispatcher({ running: 1, waiting: 5, durable });
        const runner = new FakeRunner();
        dispatcher.attach(runner);
        for (const id of ["a", "b"]) {
          await dispatcher.admit(id);
          await dispatcher.enqueue(record(id));
        }
        assert.equal(dispatcher.policy.atShutdown, durable ? "suspend" : "cancel");
        await dispatcher.stopTaking();
        assert.deepEqual(runner.ended, durable ? [] : ["b"]);
        runner.finish("a");
        await settle();
        assert.deepEqual(runner.started, ["a"], "nothing starts after stopTaking");
      }
    },
  );
});
