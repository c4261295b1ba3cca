import assert from "node:assert/strict";
import { parse } from "yaml";
import { fencedBlocks } from "../src/workflow/fenced_block.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import { parseOutline } from "../src/workflow/outline.ts";
import { outlinePrompt } from "../src/workflow/prompts.ts";
import {
  arbitraryTitles,
  arbitraryTopic,
  modelOutline,
  normalizeTitle,
  propertySeed,
  Random,
} from "./_arbitrary_text.ts";

const F = "`".repeat(3);

Deno.test("fencedBlocks follows CommonMark's rules for opening and closing fences", async (t) => {
  const cases: [name: string, text: string, blocks: ReturnType<typeof fencedBlocks>][] = [
    [
      "a fence sequence inside a line does not close the block",
      `${F}yaml\n- "a ${F} b"\n  ${F}x\n${F}`,
      [{ info: "yaml", content: `- "a ${F} b"\n  ${F}x`, closed: true }],
    ],
    [
      "a closing fence at least as long as the opening one, trailing spaces and tabs allowed",
      `${F}\`\na\n${F}\n${F}\`\` \t\nafter`,
      [{ info: "", content: `a\n${F}`, closed: true }],
    ],
    [
      "the other character does not close it",
      `~~~\n${F}\n~~~`,
      [{ info: "", content: F, closed: true }],
    ],
    [
      "an info string on the closing line makes it content",
      `${F}\na\n${F}yaml\n${F}`,
      [{ info: "", content: `a\n${F}yaml`, closed: true }],
    ],
    [
      "up to three spaces of indent; four make it content; the opening indent is removed",
      `  ${F}\n   a\n b\n    ${F}\n   ${F}`,
      [{ info: "", content: ` a\nb\n  ${F}`, closed: true }],
    ],
    [
      "a backtick in a backtick fence's info string: no fence",
      `${F} a\`b\n${F}yml\nx\n${F}`,
      [{ info: "yml", content: "x", closed: true }],
    ],
    [
      "a fence not at the start of a line is no fence",
      `Use ${F}yaml fences:\n${F}yaml\nsections: []\n${F}`,
      [{ info: "yaml", content: "sections: []", closed: true }],
    ],
    [
      "CR and CRLF line ends",
      `${F}yaml\r\na: 1\rb: 2\r\n${F}\r\n`,
      [{ info: "yaml", content: "a: 1\nb: 2", closed: true }],
    ],
    [
      "an unclosed block runs to the end",
      `${F}yaml\na: 1\n`,
      [{ info: "yaml", content: "a: 1\n", closed: false }],
    ],
    [
      "fewer than three characters is no fence",
      "``\na\n``",
      [],
    ],
  ];
  for (const [name, text, blocks] of cases) {
    await t.step(name, () => assert.deepEqual(fencedBlocks(text), blocks));
  }
});

Deno.test("parseOutline reads titles that hold fences and YAML markers", () => {
  const reply = `Sure.\n${F}yaml\nsections:\n  - "What ${F} is"\n  - 'a: b # c'\n` +
    `  - "&x *y | z"\n${F}\nBye ${F}`;
  assert.deepEqual(parseOutline(reply, 3), ["What ``` is", "a: b # c", "&x *y | z"]);
  // The first block marked yaml, yml or not at all is the outline.
  assert.deepEqual(
    parseOutline(`${F}json\n{}\n${F}\n${F}YML\nsections: [a]\n${F}`, 3),
    ["a"],
  );
  // Titles of only invisible characters are empty; line breaks inside a title become spaces.
  assert.throws(() => parseOutline('sections:\n  - "\\u200B\\u2060"', 3), /not a non-empty/);
  assert.deepEqual(parseOutline('sections:\n  - "a\\n\\tb"', 3), ["a b"]);
});

/** Runs `check` on `cases` generated cases; a failure names the seed and the case. */
async function property<T>(
  cases: number,
  generate: (r: Random) => T,
  check: (value: T) => void | Promise<void>,
): Promise<void> {
  const seed = propertySeed();
  const r = new Random(seed);
  for (let i = 0; i < cases; i++) {
    const value = generate(r);
    try {
      await check(value);
    } catch (error) {
      throw new Error(
        `Case ${i} of seed ${seed} failed (replay with PROPERTY_SEED=${seed}): ${
          JSON.stringify(value)
        }`,
        { cause: error },
      );
    }
  }
}

Deno.test("property: the offline writer's outline of any topic parses, as YAML too", async () => {
  const writer = new OfflineWriter();
  await property(3_000, arbitraryTopic, async (topic) => {
    const reply = await writer.complete(outlinePrompt(topic, 3));
    const titles = parseOutline(reply, 3);
    assert.equal(titles.length, 3);
    // A topic short enough to be used whole comes back in the first title exactly as written.
    const flat = topic.replace(/\s+/g, " ").trim();
    if (flat.length <= 60) assert.equal(titles[0], normalizeTitle(`What ${flat} is`));
    // The fast path and the YAML parser agree on what the block says.
    const block = fencedBlocks(reply)[0];
    assert.ok(block?.closed);
    assert.deepEqual(
      (parse(block.content) as { sections: string[] }).sections.map(normalizeTitle),
      titles,
    );
  });
});

Deno.test("the offline writer's titles keep characters a YAML writer must escape", async () => {
  const writer = new OfflineWriter();
  // DEL, C1 controls (NEL), a byte order mark, line and paragraph separators, bidirectional
  // controls, a lone surrogate, emoji past U+FFFF, quotes, backslashes and YAML markers.
  const topics = [
    "a\u007fb\u0085c\u0080d",
    "x\ufeffy\u2028z\u2029w",
    "\u202eevil\u202c \ud800 lone",
    '😀 "q" \\ # : & * ```',
    "\ufffe\uffff\u00a0nbsp",
  ];
  for (const topic of topics) {
    const reply = await writer.complete(outlinePrompt(topic, 2));
    const flat = topic.replace(/\s+/g, " ").trim();
    assert.deepEqual(parseOutline(reply, 2), [
      normalizeTitle(`What ${flat} is`),
      normalizeTitle(`Why ${flat} matters`),
    ]);
    const block = fencedBlocks(reply)[0];
    assert.ok(block?.closed);
    assert.match(block.content, /^[\x20-\x7e\n]*$/, "the outline is printable ASCII");
  }
});

Deno.test("property: an outline of any titles, as models write it, gives back those titles", async () => {
  await property(3_000, (r) => {
    const titles = arbitraryTitles(r);
    return { titles, reply: modelOutline(r, titles) };
  }, ({ titles, reply }) => {
    assert.deepEqual(parseOutline(reply, 3), titles.map(normalizeTitle));
  });
});
