/**
 * Reading an outline out of an LLM reply: a fenced YAML block with a top-level `sections` list.
 *
 * @module
 */

import { parse } from "yaml";
import { fencedBlocks } from "./fenced_block.ts";
import { hasVisibleCharacter } from "../core/visible_text.ts";

const SIMPLE_HEAD = /^(?:[ \t]*\r?\n)*sections:[ \t]*\r?\n/;
const SIMPLE_ITEM = /^( *)- +("(?:[^"\\\r\n]|\\.)*")[ \t]*$/;

/**
 * The common shape, `sections:` then `- "quoted title"` lines, read without the YAML parser,
 * which costs more than the rest of a job's bookkeeping (and reads the environment on every
 * call). Returns `undefined` for anything else, which the YAML parser then reads: JSON string
 * syntax is a subset of YAML's double-quoted style with the same meaning, so both agree.
 */
function parseSimpleOutline(source: string): unknown[] | undefined {
  const head = SIMPLE_HEAD.exec(source);
  if (!head) return undefined;
  const lines = source.slice(head[0].length).split(/\r?\n/);
  while (lines.length > 0 && (lines.at(-1) as string).trim() === "") lines.pop();
  if (lines.length === 0) return undefined;
  let indent: string | undefined;
  const titles: unknown[] = [];
  for (const line of lines) {
    const item = SIMPLE_ITEM.exec(line);
    if (!item || (indent !== undefined && item[1] !== indent)) return undefined;
    indent = item[1];
    try {
      titles.push(JSON.parse(item[2] as string));
    } catch {
      return undefined;
    }
  }
  return titles;
}

/**
 * The YAML to read out of `reply`: its first fenced block marked `yaml` or `yml` or not marked
 * at all, else the whole reply. Fences follow CommonMark, so a title holding a fence sequence
 * (the topic "```", say) does not end the block.
 */
function outlineSource(reply: string): string {
  for (const block of fencedBlocks(reply)) {
    const language = block.info.split(/[ \t]/, 1)[0]?.toLowerCase() ?? "";
    if (language === "" || language === "yaml" || language === "yml") return block.content;
  }
  return reply;
}

/**
 * Parses and validates the outline in `reply`: a non-empty list of unique strings that each show
 * something, at most `maxSections` long. Titles come back trimmed, each run of white space made
 * one space. Throws a `SyntaxError` that says what is wrong, so the caller can ask again.
 *
 * @example
 * ```ts
 * import { parseOutline } from "./outline.ts";
 * import assert from "node:assert/strict";
 *
 * const fence = "`".repeat(3);
 * const reply = `Here you go:\n${fence}yaml\nsections:\n  - Why\n  - How\n${fence}`;
 * assert.deepEqual(parseOutline(reply, 3), ["Why", "How"]);
 * ```
 */
export function parseOutline(reply: string, maxSections: number): string[] {
  const source = outlineSource(reply);
  const simple = parseSimpleOutline(source);
  let doc: unknown = simple === undefined ? undefined : { sections: simple };
  try {
    doc ??= parse(source);
  } catch (error) {
    throw new SyntaxError(`Outline is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (typeof doc !== "object" || doc === null || !("sections" in doc)) {
    throw new SyntaxError("Outline has no top-level 'sections' list");
  }
  const sections = (doc as { sections: unknown }).sections;
  if (!Array.isArray(sections) || sections.length === 0) {
    throw new SyntaxError("Outline 'sections' must be a non-empty list");
  }
  if (sections.length > maxSections) {
    throw new SyntaxError(
      `Outline has ${sections.length} sections, more than the ${maxSections} asked for`,
    );
  }
  const seen = new Set<string>();
  return sections.map((entry, i) => {
    if (typeof entry !== "string" || !hasVisibleCharacter(entry)) {
      throw new SyntaxError(`Outline section ${i + 1} is not a non-empty string`);
    }
    // A title becomes a one-line Markdown heading: a line break inside it would end the heading.
    const title = entry.trim().replace(/\s+/g, " ");
    if (title.length > 200) {
      throw new SyntaxError(`Outline section ${i + 1} is longer than 200 characters`);
    }
    if (seen.has(title.toLowerCase())) {
      throw new SyntaxError(`Outline section ${JSON.stringify(title)} appears twice`);
    }
    seen.add(title.toLowerCase());
    return title;
  });
}
