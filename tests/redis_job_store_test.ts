/** RedisJobStore against a throw-away redis-server: the log semantics the feed relies on. */

import assert from "node:assert/strict";
import { JobTakenError, RedisJobStore } from "../src/store/redis_job_store.ts";
import { hasRedisServer, RedisServer } from "../testing/redis_cluster.ts";
import { jobRecord } from "../testing/job_records.ts";

const haveRedis = await hasRedisServer();

Deno.test({
  name: "RedisJobStore keeps ordered, idempotent logs and expires finished jobs",
  ignore: !haveRedis,
  async fn(t) {
    const redis = await RedisServer.start();
    const stores: RedisJobStore[] = [];
    try {
      const a = await RedisJobStore.connect(redis.url, { ttlMs: 300 });
      stores.push(a);
      const b = await RedisJobStore.connect(redis.url, { ttlMs: 300 });
      stores.push(b);

      await t.step("events() returns ids above afterId, in order, up to limit", async () => {
        await a.put(jobRecord("j1", { status: "running", createdAt: 1, lastEventId: 1 }));
        for (let id = 1; id <= 5; id++) {
          await a.append("j1", { id, type: "delta", data: { step: "outline", text: `${id}` } });
        }
        assert.deepEqual((await b.events("j1", 2, 2)).map((e) => e.id), [3, 4]);
        assert.deepEqual(await b.events("j1", 5, 10), []);
        assert.deepEqual((await b.events("j1", 0, 1))[0], {
          id: 1,
          type: "delta",
          data: { step: "outline", text: "1" },
        });
      });

      await t.step(
        "a run that lost its job to another instance can write nothing more",
        async () => {
          const delta = (id: number, text: string) =>
            ({ id, type: "delta", data: { step: "outline", text } }) as const;
          await a.fence("j2", "run-a");
          await a.put(jobRecord("j2", { status: "running", createdAt: 2, lastEventId: 0 }));
          await a.append("j2", delta(1, "from a"));
          await b.fence("j2", "run-b");
          await assert.rejects(a.append("j2", delta(2, "late a")), JobTakenError);
          await assert.rejects(a.put(jobRecord("j2", { status: "failed" })), JobTakenError);
          assert.equal(a.wasTaken("j2"), true);
          assert.equal(b.wasTaken("j2"), false);
          await b.append("j2", delta(2, "from b"));
          await b.append("j2", delta(2, "from b again")); // a repeated id is still a no-op
          await b.put(jobRecord("j2", { status: "running", createdAt: 2, lastEventId: 2 }));
          assert.deepEqual((await a.events("j2", 0, 10)).map((e) => e.data.text), [
            "from a",
            "from b",
          ]);
          assert.equal((await a.get("j2"))?.status, "running");
          a.unfence("j2");
          assert.equal(a.wasTaken("j2"), false);
        },
      );

      await t.step("a second write of an event id is a no-op", async () => {
        await a.append("j1", { id: 5, type: "cancelled", data: {} });
        await a.append("j1", { id: 3, type: "cancelled", data: {} });
        const log = await b.events("j1", 0, 10);
        assert.deepEqual(log.map((e) => e.type), ["delta", "delta", "delta", "delta", "delta"]);
      });

      await t.step("get() reports the log's last id even when the record lags", async () => {
        assert.equal((await b.get("j1"))?.lastEventId, 5);
        assert.equal(await b.get("missing"), undefined);
      });

      await t.step("watch() hears appends made through another connection", async () => {
        const { promise, resolve } = Promise.withResolvers<void>();
        let calls = 0;
        const stop = b.watch("j1", () => {
          calls++;
          if (calls === 2) resolve(); // once on subscribing, once for the append
        });
        await new Promise((r) => setTimeout(r, 50));
        await a.append("j1", { id: 6, type: "complete", data: {} });
        await promise;
        stop();
      });

      await t.step("list() is newest first; finished jobs expire with their log", async () => {
        await a.put(jobRecord("j2", { createdAt: 2, lastEventId: 1 }));
        assert.deepEqual((await b.list(10)).map((r) => r.id), ["j2", "j1"]);
        await a.put(jobRecord("j1", { status: "completed", createdAt: 1, lastEventId: 6 }));
        await new Promise((r) => setTimeout(r, 400));
        assert.equal(await b.get("j1"), undefined);
        assert.deepEqual(await b.events("j1", 0, 10), []);
        assert.deepEqual((await b.list(10)).map((r) => r.id), ["j2"]);
      });
    } finally {
      for (const store of stores) await store.close();
      await redis.destroy();
    }
  },
});
