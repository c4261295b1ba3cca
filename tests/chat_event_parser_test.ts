import assert from "node:assert/strict";
import { ChatEventParser } from "../src/llm/chat_event_parser.ts";

const encoder = new TextEncoder();

/** What the parser must report for `payloads`: each parsed whole, as JSON.parse reads it. */
function expected(payloads: string[]): { deltas: string[]; usages: unknown[] } {
  const deltas: string[] = [];
  const usages: unknown[] = [];
  for (const payload of payloads) {
    const chunk = JSON.parse(payload);
    if (chunk?.error) throw new Error("not for erroring chunks");
    const content = Array.isArray(chunk?.choices) ? chunk.choices[0]?.delta?.content : undefined;
    if (typeof content === "string" && content !== "") deltas.push(content);
    if (typeof chunk?.usage === "object" && chunk.usage !== null) usages.push(chunk.usage);
  }
  return { deltas, usages };
}

function parse(payloads: string[]): { deltas: string[]; usages: unknown[]; answer: string } {
  const deltas: string[] = [];
  const usages: unknown[] = [];
  const parser = new ChatEventParser({
    onDelta: (d) => deltas.push(d),
    onUsage: (u) => usages.push(u),
    toError: (e) => new Error(`stream error: ${JSON.stringify(e)}`),
  });
  for (const payload of payloads) parser.push(encoder.encode(`data: ${payload}\n\n`));
  return { deltas, usages, answer: parser.answer };
}

/** A server's text chunk: the same JSON every time but for the text. */
const chunk = (text: string) =>
  `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${
    JSON.stringify(text)
  }},"finish_reason":null}]}`;

Deno.test("ChatEventParser reads every chunk as JSON.parse would, however its text is written", async (t) => {
  const texts = [
    "Hello",
    " world",
    "",
    'say "hi"',
    "back\\slash",
    "line\nbreak",
    "tab\t",
    "é 紅茶 🍵",
    "probe",
    '"content":"x"',
    '","',
    "\u0001",
    "end",
  ];
  await t.step("text written plainly, escaped, or with \\u escapes", () => {
    const payloads = [
      ...texts.map(chunk),
      // The same text escaped otherwise than JSON.stringify does: `\u` and `\/`.
      chunk("café").replace("é", "\\u00e9"),
      chunk("a/b").replace("a/b", "a\\/b"),
      '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
      '{"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}',
      chunk("after the usage"),
    ];
    const want = expected(payloads);
    const got = parse(payloads);
    assert.deepEqual(got.deltas, want.deltas);
    assert.deepEqual(got.usages, want.usages);
    assert.equal(got.answer, want.deltas.join(""));
  });

  await t.step("a chunk whose text is also found elsewhere, or in another choice", () => {
    // Each answer its own parser: it learns from an answer's first text chunks.
    const answers = [
      [
        '{"Hi":1,"choices":[{"delta":{"content":"Hi"}}]}',
        '{"Hi":1,"choices":[{"delta":{"content":"Ho"}}]}',
        '{"Hi":1,"choices":[{"delta":{"content":"Hu"}}]}',
      ],
      [
        '{"choices":[{"delta":{"content":"A"}},{"delta":{"content":"B"}}]}',
        '{"choices":[{"delta":{"content":"A2"}},{"delta":{"content":"B"}}]}',
        '{"choices":[{"delta":{"content":"A3"}},{"delta":{"content":"C"}}]}',
      ],
      // Its text found, written alike, at a place that is not the delta's.
      [
        '{"x":{"content":"Hi"},"choices":[{"delta":{"content":"H\\u0069"}}]}',
        '{"x":{"content":"Bye"},"choices":[{"delta":{"content":"H\\u0069"}}]}',
      ],
      // Its text found across two strings.
      [
        '{"a":"b","c":1,"choices":[{"delta":{"content":","}}]}',
        '{"a":"b","c":2,"choices":[{"delta":{"content":","}}]}',
      ],
    ];
    for (const payloads of answers) {
      assert.deepEqual(parse(payloads).deltas, expected(payloads).deltas, payloads[0]);
    }
  });

  await t.step("an error in a chunk shaped like the text chunks is still thrown", () => {
    const parser = new ChatEventParser({
      onDelta: () => {},
      toError: (e) => new Error(`stream error: ${JSON.stringify(e)}`),
    });
    parser.push(encoder.encode(`data: ${chunk("one")}\n\ndata: ${chunk("two")}\n\n`));
    assert.throws(
      () => parser.push(encoder.encode(`event: error\ndata: ${chunk("three")}\n\n`)),
      /stream error/,
    );
    assert.equal(parser.answer, "onetwo");
  });

  await t.step("a raw control character in the text is not JSON, as before", () => {
    const parser = new ChatEventParser({ onDelta: () => {}, toError: (e) => new Error(String(e)) });
    parser.push(encoder.encode(`data: ${chunk("one")}\n\ndata: ${chunk("two")}\n\n`));
    assert.throws(
      () => parser.push(encoder.encode(`data: ${chunk("x").replace('"x"', '"\u0001"')}\n\n`)),
      SyntaxError,
    );
  });
});

Deno.test("ChatEventParser parses an answer's first text chunks only: the rest are read around their text", () => {
  const parse = JSON.parse;
  let parsed = 0;
  JSON.parse = (...args: Parameters<typeof JSON.parse>) => {
    parsed++;
    return parse(...args);
  };
  try {
    const deltas: string[] = [];
    const parser = new ChatEventParser({
      onDelta: (d) => deltas.push(d),
      toError: (e) => new Error(String(e)),
    });
    const words = Array.from({ length: 100 }, (_, i) => `word${i} `);
    for (const word of words) parser.push(encoder.encode(`data: ${chunk(word)}\n\n`));
    assert.deepEqual(deltas, words);
    // The first chunk, and the proof of where its text sits.
    assert.equal(parsed, 2);

    // A server that stamps each chunk with the second: learned again as the second turns.
    parsed = 0;
    const stamped = new ChatEventParser({
      onDelta: () => {},
      toError: (e) => new Error(String(e)),
    });
    for (let i = 0; i < 100; i++) {
      const created = Math.floor(i / 20);
      stamped.push(
        encoder.encode(
          `data: ${chunk(`w${i} `).replace('"created":1', `"created":${created}`)}\n\n`,
        ),
      );
    }
    assert.equal(stamped.answer, Array.from({ length: 100 }, (_, i) => `w${i} `).join(""));
    assert.equal(parsed, 10, "two parses per second: the chunk that did not fit, and the proof");

    // A server whose every chunk differs: tried twice, then parsed as before.
    parsed = 0;
    const counted = new ChatEventParser({
      onDelta: () => {},
      toError: (e) => new Error(String(e)),
    });
    for (let i = 0; i < 100; i++) {
      counted.push(
        encoder.encode(`data: ${chunk(`w${i} `).replace('"id":"c1"', `"id":"c${i}"`)}\n\n`),
      );
    }
    assert.equal(parsed, 102);
  } finally {
    JSON.parse = parse;
  }
});
