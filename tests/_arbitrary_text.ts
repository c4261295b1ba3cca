/**
 * Generated topics and outline titles for property tests: Markdown fences of every length, YAML
 * markers, quotes, backslashes, right-to-left text, emoji, combining marks, line breaks and tabs,
 * drawn from a seeded generator so a failing case can be replayed from its seed.
 *
 * @module
 */

import { parse, stringify } from "yaml";

/** A seeded pseudo-random generator (mulberry32): the same seed gives the same sequence. */
export class Random {
  #state: number;

  /** Starts the sequence of `seed`. */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
}

/** The seed to use: `PROPERTY_SEED` when set (to replay a failure), else a fresh one. */
export function propertySeed(): number {
  const given = Deno.env.get("PROPERTY_SEED");
  if (given !== undefined && given !== "") return Number(given) >>> 0;
  return crypto.getRandomValues(new Uint32Array(1))[0] as number;
}

const FRAGMENTS: readonly (string | ((r: Random) => string))[] = [
  // Fences of every length, both characters, with and without info strings and line breaks.
  (r) => "`".repeat(r.int(1, 9)),
  (r) => "~".repeat(r.int(3, 6)),
  "```yaml",
  "```\n",
  "\n```\n",
  "~~~yml\n",
  "````",
  // YAML markers and look-alikes.
  ":",
  ": ",
  " #",
  "#",
  "&",
  "&anchor",
  "*",
  "*alias",
  "|",
  "|-",
  ">",
  ">-",
  "!",
  "!!str",
  "%",
  "%YAML 1.2",
  "@",
  "`",
  "-",
  "- ",
  "---",
  "...",
  "?",
  "? ",
  "{",
  "}",
  "[",
  "]",
  ",",
  "key: value",
  "- item",
  "{a: 1}",
  "[1, 2]",
  "null",
  "true",
  "~",
  "0x1F",
  "1e3",
  ".inf",
  "yes",
  // Quotes, backslashes and escapes that must stay text.
  '"',
  "'",
  "\\",
  "\\n",
  "\\u0041",
  "\\x41",
  '\\"',
  "''",
  // Tags and templates.
  "</data>",
  "<data>",
  "<script>",
  "${topic}",
  "{{x}}",
  "%s",
  // Right-to-left text and bidirectional controls.
  "שלום",
  "مرحبا بالعالم",
  "\u202Eevil\u202C",
  "\u200F",
  // Emoji, including sequences.
  "🍵",
  "👩‍💻",
  "🇫🇷",
  "👍🏽",
  "❤️",
  // Combining marks and other scripts.
  "e\u0301",
  "a\u0308\u0304",
  "Z\u0351\u036B\u0343",
  "日本語",
  "Ελληνικά",
  // Spaces, line breaks and tabs.
  "\n",
  "\n\n",
  "\r\n",
  "\t",
  " \t ",
  "\u00A0",
  "\u3000",
  "\u2028",
  "\u200B",
  "\uFEFF",
  "\uFFFE",
  // Plain words.
  "tea",
  "Quantum computing",
  "C++",
  "AI safety",
  "the history of bread",
];

function fragment(r: Random): string {
  const f = r.pick(FRAGMENTS);
  return typeof f === "string" ? f : f(r);
}

/** Text of 1 to `parts` fragments, run together or spaced, that shows at least one letter. */
function text(r: Random, parts: number): string {
  const pieces = Array.from({ length: r.int(1, parts) }, () => fragment(r));
  const joined = pieces.join(r.next() < 0.5 ? "" : " ");
  // Only zero-width and space fragments would be refused as empty: keep a visible word.
  return /[\p{L}\p{N}\p{S}\p{P}]/u.test(joined) ? joined : `${joined}tea`;
}

/** A topic the API accepts (at most 500 characters, no control characters but tab and LF). */
export function arbitraryTopic(r: Random): string {
  return text(r, 8);
}

/** One to three outline titles, different once trimmed, spaced and lower-cased. */
export function arbitraryTitles(r: Random): string[] {
  const titles: string[] = [];
  const seen = new Set<string>();
  const count = r.int(1, 3);
  while (titles.length < count) {
    const title = text(r, 5);
    const key = normalizeTitle(title).toLowerCase();
    if (seen.has(key) || key.length > 200) continue;
    seen.add(key);
    titles.push(title);
  }
  return titles;
}

/** A title as the outline parser gives it back: trimmed, each run of white space one space. */
export function normalizeTitle(title: string): string {
  return title.trim().replace(/\s+/g, " ");
}

/** Whether a line of `content` would close a fence of `length` × `char` (CommonMark). */
function wouldClose(content: string, char: string, length: number): boolean {
  const closing = new RegExp(`^ {0,3}\\${char}{${length},}[ \\t]*$`, "m");
  return closing.test(content.replaceAll("\r\n", "\n").replaceAll("\r", "\n"));
}

/**
 * An outline of `titles` as a model would write it: YAML in one of the styles models use
 * (double-quoted, single-quoted, plain where YAML allows, or JSON strings), in a fenced block
 * with or without an info string, with or without words around it. Like a careful writer, the
 * model makes its fence longer when a line of the YAML would otherwise close it.
 */
export function modelOutline(r: Random, titles: string[]): string {
  const style = r.int(0, 4);
  const asJson = `sections:\n${titles.map((t) => `  - ${JSON.stringify(t)}`).join("\n")}\n`;
  let yaml = asJson;
  if (style !== 4) {
    yaml = stringify({ sections: titles }, {
      defaultStringType: style === 0 ? "QUOTE_DOUBLE" : style === 1 ? "QUOTE_SINGLE" : "PLAIN",
      defaultKeyType: "PLAIN",
      lineWidth: 0,
      indentSeq: style !== 3,
    });
    // npm:yaml 2.9.1 folds some double-quoted titles wrongly (non-ASCII text, then a line break
    // and a space: it writes `\\ ` where `\ ` is meant), so its output says other titles than
    // it was given. A model that wrote that would mean those titles; ask for the JSON form then.
    const said = (parse(yaml) as { sections?: unknown }).sections;
    if (JSON.stringify(said) !== JSON.stringify(titles)) yaml = asJson;
  }
  const char = r.next() < 0.8 ? "`" : "~";
  let length = r.int(3, 5);
  while (wouldClose(yaml, char, length)) length++;
  const fence = char.repeat(length);
  const info = r.pick(["yaml", "yml", "YAML", "", " yaml ", "yaml title=outline"]);
  const before = r.pick(["", "Sure! Here is the outline:\n\n", "Outline:\n"]);
  const after = r.pick(["", "\n", "\n\nLet me know if you want changes."]);
  return `${before}${fence}${info}\n${yaml}${fence}${after}`;
}
