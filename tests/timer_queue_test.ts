import assert from "node:assert/strict";
import { TimerQueue } from "../src/core/timer_queue.ts";

Deno.test("TimerQueue runs calls by due time, ties in the order scheduled, cancelled ones never", async () => {
  const timers = new TimerQueue();
  const order: string[] = [];
  const done = Promise.withResolvers<void>();
  // Scheduled in one tick, out of order, with ties and cancels among them.
  timers.schedule(30, () => order.push("30"));
  const dropped = timers.schedule(10, () => order.push("cancelled"));
  timers.schedule(0, () => order.push("0a"));
  timers.schedule(20, () => order.push("20a"));
  timers.schedule(-5, () => order.push("0b"));
  timers.schedule(Number.NaN, () => order.push("0c"));
  timers.schedule(20, () => order.push("20b"));
  timers.schedule(40, () => done.resolve());
  timers.cancel(dropped);
  timers.cancel(dropped); // twice is nothing
  assert.equal(timers.size, 7);
  await done.promise;
  assert.deepEqual(order, ["0a", "0b", "0c", "20a", "20b", "30"]);
  assert.equal(timers.size, 0);
});

Deno.test("TimerQueue: a call may schedule and cancel others; a cancel after running is nothing", async () => {
  const timers = new TimerQueue();
  const order: string[] = [];
  const done = Promise.withResolvers<void>();
  const first = timers.schedule(5, () => {
    order.push("first");
    timers.cancel(later);
    timers.schedule(0, () => order.push("soon"));
    timers.schedule(15, () => {
      order.push("last");
      done.resolve();
    });
  });
  const later = timers.schedule(10, () => order.push("cancelled by first"));
  await done.promise;
  timers.cancel(first);
  assert.deepEqual(order, ["first", "soon", "last"]);
  assert.equal(timers.size, 0);
});

Deno.test("TimerQueue holds thousands in a heap and runs each once, in time order", async () => {
  const timers = new TimerQueue();
  const ran: number[] = [];
  const cancelled = new Set<number>();
  const entries = Array.from({ length: 2_000 }, (_, i) => {
    const ms = (i * 7919) % 50;
    return { i, entry: timers.schedule(ms, () => ran.push(i)) };
  });
  for (const { i, entry } of entries) {
    if (i % 3 === 0) {
      timers.cancel(entry);
      cancelled.add(i);
    }
  }
  const done = Promise.withResolvers<void>();
  timers.schedule(60, () => done.resolve());
  await done.promise;
  const expected = entries.filter(({ i }) => !cancelled.has(i));
  assert.equal(ran.length, expected.length);
  assert.equal(new Set(ran).size, ran.length);
  // In the order they were due, ties in the order scheduled.
  const dueOf = new Map(entries.map(({ i, entry }) => [i, entry.at]));
  for (let k = 1; k < ran.length; k++) {
    const [a, b] = [ran[k - 1] as number, ran[k] as number];
    const [dueA, dueB] = [dueOf.get(a) as number, dueOf.get(b) as number];
    assert.ok(dueA < dueB || (dueA === dueB && a < b), `order at ${k}: ${a} before ${b}`);
  }
});
