import assert from "node:assert/strict";
import v8 from "node:v8";
import { longestReactionList } from "../testing/heap_snapshot.ts";
import { startTestServer } from "./_server.ts";
import { makeTestDir } from "./test_dir.ts";

async function runAndMeasure(flags: string[], dir: string): Promise<number> {
  const server = await startTestServer(["--max-concurrent-jobs", "50", ...flags]);
  try {
    const base = server.url;
    const one = async (n: number) => {
      const started = await fetch(`${base}/start-job`, {
        method: "POST",
        body: new URLSearchParams({ topic: `leak ${n}` }),
      });
      const { job_id } = await started.json() as { job_id: string };
      const stream = await fetch(`${base}/progress/${job_id}`);
      let text = "";
      for await (const chunk of stream.body!.pipeThrough(new TextDecoderStream())) {
        text += chunk;
        if (text.includes('"step":"complete"') && text.endsWith("\n\n")) break;
      }
      assert.match(text, /"final_article"/);
    };
    for (let round = 0; round < 6; round++) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => one(round * 100 + i)));
    }
    const path = `${dir}/after.heapsnapshot`;
    v8.writeHeapSnapshot(path);
    const longest = longestReactionList(await Deno.readTextFile(path));
    await Deno.remove(path);
    return longest;
  } finally {
    await server.shutdown();
  }
}

// A promise that never settles and gets a reaction per job (a `Promise.race` against "the
// server is closing", say) keeps each one for the life of the process.
Deno.test("no promise gathers a reaction per job: 600 jobs, submitted and watched over HTTP, leave none waiting on one", async (t) => {
  await using dir = await makeTestDir("leak");
  for (const store of ["memory", "sqlite"]) {
    await t.step(`${store} store`, async () => {
      const flags = store === "memory"
        ? ["--store", "memory"]
        : ["--store", "sqlite", "--data-dir", `${dir.path}/data`];
      const longest = await runAndMeasure(flags, dir.path);
      assert.ok(longest < 100, `one promise waits with ${longest} reactions after 600 jobs`);
    });
  }
});
