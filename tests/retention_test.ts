import assert from "node:assert/strict";
import { Retention } from "../src/jobs/retention.ts";

Deno.test("Retention keeps finished jobs for their time and up to a count", async (t) => {
  let now = 0;
  const clock = { now: () => now };

  await t.step("a job past its time is evicted, the others kept", () => {
    const evicted: string[] = [];
    const retention = new Retention({
      ttlMs: 100,
      maxRetained: 10,
      clock,
      evict: (id) => evicted.push(id),
    });
    retention.add("old", 0);
    retention.add("new", 50);
    now = 120;
    retention.evictDue();
    assert.deepEqual(evicted, ["old"]);
    assert.equal(retention.size, 1);
    retention.close();
  });

  await t.step("beyond the count the oldest go first, whatever order they came in", () => {
    now = 0;
    const evicted: string[] = [];
    const retention = new Retention({
      ttlMs: 1_000,
      maxRetained: 2,
      clock,
      evict: (id) => evicted.push(id),
    });
    retention.add("b", 20);
    retention.add("a", 10);
    retention.add("c", 30);
    assert.deepEqual(evicted, ["a"]);
    retention.close();
  });

  await t.step("a removed job is never evicted", () => {
    now = 0;
    const evicted: string[] = [];
    const retention = new Retention({
      ttlMs: 10,
      maxRetained: 10,
      clock,
      evict: (id) => evicted.push(id),
    });
    retention.add("refused", 0);
    retention.remove("refused");
    now = 100;
    retention.evictDue();
    assert.deepEqual(evicted, []);
    retention.close();
  });
});
