import assert from "node:assert/strict";
import { ReleasingMap } from "../src/core/releasing_map.ts";

Deno.test("ReleasingMap keeps Map's order and answers, set over an entry keeping its place", () => {
  const map = new ReleasingMap<string, number>();
  map.set("a", 1).set("b", 2).set("c", 3).set("a", 4);
  assert.deepEqual([...map], [["a", 4], ["b", 2], ["c", 3]]);
  assert.equal(map.delete("b"), true);
  assert.equal(map.delete("b"), false);
  assert.equal(map.get("b"), undefined);
  assert.equal(map.size, 2);
  // Deleting while iterating, as the feed's sweep does: the rest are still visited.
  const seen: string[] = [];
  for (const [key] of map) {
    seen.push(key);
    map.delete("c");
  }
  assert.deepEqual(seen, ["a"]);
  map.clear();
  assert.equal(map.size, 0);
  assert.deepEqual([...map.values()], []);
});

Deno.test("values that left a long-lived ReleasingMap are not kept by the young-generation collector, as a Map's are", async () => {
  // A process of its own: the measure needs `--expose-gc` and a heap no other test shares.
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--v8-flags=--expose-gc", "testing/map_retention.ts"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const kept = JSON.parse(new TextDecoder().decode(stdout)) as {
    map: number;
    releasing: number;
    of: number;
  };
  assert.ok(kept.releasing <= 10, `ReleasingMap: ${kept.releasing} of ${kept.of} still kept`);
  // What it guards against: without it, a map that churns keeps hundreds alive (927 of 2,000 in
  // Deno 2.9.6). Should a runtime stop doing so, this says the wrapper is no longer needed.
  assert.ok(kept.map >= 10 * Math.max(1, kept.releasing), `Map: ${kept.map} of ${kept.of} kept`);
});
