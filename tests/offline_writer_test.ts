import assert from "node:assert/strict";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import { outlinePrompt, sectionPrompt, stylePrompt } from "../src/workflow/prompts.ts";

Deno.test("the offline writer's streamed bursts add up to its reply, one about every 25 ms, cut between words", async () => {
  const requests = [
    outlinePrompt("tea", 3),
    sectionPrompt("tea", "Why tea matters"),
    stylePrompt("tea", "## Why tea matters\n\nIt warms you up."),
  ];
  for (const delayMs of [0, 10, 60, 200]) {
    const writer = new OfflineWriter({ delayMs });
    for (const request of requests) {
      const bursts: string[] = [];
      const reply = await writer.complete(request, { onDelta: (text) => bursts.push(text) });
      assert.equal(bursts.join(""), reply, `${request.purpose} at ${delayMs} ms`);
      const expected = Math.max(1, Math.round(delayMs / 25));
      assert.ok(bursts.length <= expected, `${bursts.length} bursts at ${delayMs} ms`);
      if (delayMs >= 200 && request.purpose === "section") assert.equal(bursts.length, expected);
      for (const burst of bursts.slice(1)) assert.match(burst, /^\S/, "a burst starts a word");
    }
  }
});
