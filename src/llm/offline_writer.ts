/**
 * The offline demo writer: a deterministic, template-based stand-in for an LLM, so the service
 * and its tests run with no key and no network. It is not a model and never claims to be one:
 * its provider is `offline` and its model is `null`.
 *
 * @module
 */

import type { LlmCallOptions, LlmClient, LlmRequest } from "./llm_client.ts";
import { delay } from "../core/retry.ts";

/** Options for {@linkcode OfflineWriter}. */
export interface OfflineWriterOptions {
  /** Simulated latency of each call in ms; its deltas are spread over that time. */
  delayMs?: number;
}

const SECTION_TEMPLATES = [
  (t: string) => `What ${t} is`,
  (t: string) => `Why ${t} matters`,
  (t: string) => `Getting started with ${t}`,
  (t: string) => `Common mistakes with ${t}`,
  (t: string) => `Where ${t} is heading`,
  (t: string) => `${t} in practice`,
  (t: string) => `Questions people ask about ${t}`,
  (t: string) => `Tools for ${t}`,
];

const OPENERS = [
  "Think of it this way:",
  "Here is the short version:",
  "Put simply,",
  "At its heart,",
];

const EXAMPLES = [
  "For example, a small team might try it on one project for a week and compare notes.",
  "For example, a beginner can start with a single, concrete task and build from there.",
  "For example, picture a friend explaining it over coffee with a napkin sketch.",
  "For example, a city library could use it to make a familiar service a little better.",
];

/** Aim for one burst of text about this often, in ms. */
const TICK_MS = 25;

const CHUNK = /(?:\S+\s*){1,4}|\s+/g;

/**
 * Where each burst of `text` ends when it is sent in at most `ticks` bursts of about as many
 * chunks of a few words each (and never more bursts than chunks). Offsets, not the chunks: a
 * call holds its bursts' ends while it waits, not a string per chunk.
 */
function burstEnds(text: string, ticks: number): number[] {
  const chunkEnds: number[] = [];
  CHUNK.lastIndex = 0;
  for (let match = CHUNK.exec(text); match !== null; match = CHUNK.exec(text)) {
    chunkEnds.push(CHUNK.lastIndex);
  }
  if (chunkEnds.length === 0) return [text.length];
  const count = Math.max(1, Math.min(chunkEnds.length, ticks));
  return Array.from(
    { length: count },
    (_, i) => chunkEnds[Math.round(chunkEnds.length * (i + 1) / count) - 1] as number,
  );
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function pick<T>(list: readonly T[], seed: string): T {
  return list[hash(seed) % list.length] as T;
}

const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" });

/** The topic shortened for use inside a title, never cut inside a character or an emoji. */
function shortTopic(topic: string): string {
  const flat = topic.replace(/\s+/g, " ").trim();
  if (flat.length <= 60) return flat;
  let short = "";
  for (const { segment } of graphemes.segment(flat)) {
    if (short.length + segment.length > 57) break;
    short += segment;
  }
  return `${short.trimEnd()}...`;
}

/**
 * `text` as a double-quoted scalar holding only printable ASCII: a JSON string with every UTF-16
 * unit outside U+0020-U+007E written `\\uXXXX`. JSON strings are YAML double-quoted scalars of the
 * same meaning, so no topic can end the scalar, start a comment, fold a line or carry a
 * character a YAML reader may reject or drop (controls, DEL, C1, U+2028, a byte order mark); and
 * `parseOutline` reads it on its fast path, with `JSON.parse`.
 */
function quoted(text: string): string {
  // JSON.stringify already escapes quotes, backslashes, C0 controls and lone surrogates.
  const json = JSON.stringify(text);
  return PRINTABLE_ASCII.test(json) ? json : json.replace(NOT_PRINTABLE_ASCII, escapeUnit);
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const NOT_PRINTABLE_ASCII = /[^\x20-\x7e]/g;

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

/**
 * `sections:` and the list, as YAML. Written by hand rather than through the yaml library: the
 * library's document cost ~10 % of a zero-delay job's CPU, and a double-quoted scalar of
 * {@linkcode quoted} parses back to the exact title whatever the topic holds (`:`, `#`, `&`,
 * quotes, backslashes, fences, any Unicode), which `tests/topic_property_test.ts` checks.
 */
function outlineYaml(sections: string[]): string {
  let yaml = "sections:\n";
  for (const title of sections) yaml += `  - ${quoted(title)}\n`;
  return yaml;
}

function writeOutline(topic: string, count: number): string {
  const t = shortTopic(topic);
  const sections = SECTION_TEMPLATES
    .slice(0, Math.max(1, Math.min(count, SECTION_TEMPLATES.length)))
    .map((make) => make(t));
  const yaml = outlineYaml(sections);
  // A fence longer than any run of backticks inside, as a careful Markdown writer picks one.
  const longest = Math.max(0, ...(yaml.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(Math.max(3, longest + 1));
  return `${fence}yaml\n${yaml}${fence}`;
}

function writeSection(topic: string, section: string): string {
  const t = shortTopic(topic);
  const seed = `${topic}\u0000${section}`;
  return [
    `${pick(OPENERS, seed)} "${section}" is about seeing ${t} clearly, without jargon.`,
    `Most people meet ${t} through everyday situations long before they learn its name,`,
    "and that is a good place to begin: notice what already works, ask why it works,",
    "and change one thing at a time.",
    pick(EXAMPLES, seed + "e"),
    "The point is not to master everything at once but to build a habit of small, useful steps.",
    `Once that habit is in place, the rest of ${t} becomes much easier to explore,`,
    "because each new idea has something familiar to attach to.",
  ].join(" ");
}

function writeStyled(topic: string, draft: string): string {
  const t = shortTopic(topic);
  const body = draft.trim();
  return [
    `# ${t}: a friendly guide`,
    "",
    `Ever wondered what all the fuss about ${t} is? You're not alone, so let's walk through it together.`,
    "",
    body,
    "",
    "## Wrapping up",
    "",
    `That's the tour. Start small, stay curious, and ${t} will start to feel like an old friend.`,
    "",
    "_Written by Quillflow's offline demo writer (templates, not an AI model)._",
  ].join("\n");
}

/**
 * Writes deterministic, topic-aware text from templates, taking `delayMs` per call.
 *
 * @example
 * ```ts
 * import { OfflineWriter } from "./offline_writer.ts";
 * import { outlinePrompt } from "../workflow/prompts.ts";
 * import assert from "node:assert/strict";
 *
 * const writer = new OfflineWriter();
 * const reply = await writer.complete(outlinePrompt("tea", 3));
 * assert.match(reply, /sections:/);
 * assert.equal(writer.model, null);
 * ```
 */
export class OfflineWriter implements LlmClient {
  readonly provider = "offline";
  readonly model = null;
  readonly #delayMs: number;

  /** Creates the writer with the given simulated latency. */
  constructor(options: OfflineWriterOptions = {}) {
    const delayMs = options.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new RangeError(
        `Cannot create offline writer as 'delayMs' must be a non-negative number: current value is ${delayMs}`,
      );
    }
    this.#delayMs = delayMs;
  }

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    try {
      return await this.#complete(request, options);
    } finally {
      // One request, and no tokens: it is not a model, and counts none.
      options.onAttempt?.(null);
    }
  }

  async #complete(request: LlmRequest, options: LlmCallOptions): Promise<string> {
    const { signal, onDelta } = options;
    signal?.throwIfAborted();
    const text = this.#write(request);
    if (this.#delayMs === 0) {
      // Nothing to spread the text over: chunking it would only cost CPU, since the manager
      // gathers the deltas of one turn into one event anyway.
      onDelta?.(text);
      signal?.throwIfAborted();
      return text;
    }
    // Chunks of a few words, like a model's token stream, released in ticks spread evenly over
    // the delay. A tick every ~25 ms is finer than the manager's 50 ms delta batching, so
    // watchers see the same stream as with a timer per chunk, at a fraction of the timers.
    const ends = burstEnds(text, Math.round(this.#delayMs / TICK_MS));
    let sent = 0;
    let waited = 0;
    for (let tick = 1; tick <= ends.length; tick++) {
      const due = Math.round(this.#delayMs * tick / ends.length);
      await delay(due - waited, signal);
      waited = due;
      const end = ends[tick - 1] as number;
      onDelta?.(text.slice(sent, end));
      sent = end;
    }
    signal?.throwIfAborted();
    return text;
  }

  #write(request: LlmRequest): string {
    const topic = String(request.input.topic ?? "");
    switch (request.purpose) {
      case "outline":
        return writeOutline(topic, Number(request.input.sections ?? 3));
      case "section":
        return writeSection(topic, String(request.input.section ?? ""));
      case "style":
        return writeStyled(topic, String(request.input.draft ?? ""));
    }
  }
}
