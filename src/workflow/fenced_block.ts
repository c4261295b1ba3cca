/**
 * Fenced code blocks in Markdown text, found by CommonMark's rules (spec 0.31, "Fenced code
 * blocks"), so a fence sequence inside the block's content never ends it early.
 *
 * @module
 */

/** One fenced code block. */
export interface FencedBlock {
  /** The opening fence's info string, trimmed (`yaml` in "```yaml"). */
  info: string;
  /** The lines between the fences, joined with `\n`, each without the opening fence's indent. */
  content: string;
  /** `false` when the text ended before a closing fence (the block then runs to the end). */
  closed: boolean;
}

// Up to 3 spaces of indent, then 3 or more backticks or tildes, then the info string.
const OPENING = /^( {0,3})(`{3,}|~{3,})(.*)$/;

/**
 * Every top-level fenced code block of `markdown`, in order.
 *
 * A closing fence is a line of the opening fence's character, at least as many as the opening
 * had, indented by at most 3 spaces and followed by nothing but spaces or tabs; it never has an
 * info string. A backtick fence's info string holds no backtick (else the line is no fence).
 * An unclosed block runs to the end of the text. Lines end at LF, CR or CRLF. Containers such as
 * lists and block quotes are not looked into: an LLM's reply puts its block at the top level.
 *
 * @example
 * ```ts
 * import { fencedBlocks } from "./fenced_block.ts";
 * import assert from "node:assert/strict";
 *
 * const fence = "`".repeat(3);
 * const text = `Intro\n${fence}yaml\ntitle: "a ${fence} b"\n${fence}\nOutro`;
 * assert.deepEqual(fencedBlocks(text), [
 *   { info: "yaml", content: `title: "a ${fence} b"`, closed: true },
 * ]);
 * ```
 */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const blocks: FencedBlock[] = [];
  const lines = markdown.split(/\r\n|\r|\n/);
  let open: { char: string; length: number; indent: number; info: string } | undefined;
  let content: string[] = [];
  for (const line of lines) {
    if (open === undefined) {
      const match = OPENING.exec(line);
      if (!match) continue;
      const [, indent = "", fence = "", rest = ""] = match;
      const char = fence[0] as string;
      if (char === "`" && rest.includes("`")) continue;
      open = { char, length: fence.length, indent: indent.length, info: rest.trim() };
      content = [];
    } else if (isClosingFence(line, open.char, open.length)) {
      blocks.push({ info: open.info, content: content.join("\n"), closed: true });
      open = undefined;
    } else {
      content.push(stripIndent(line, open.indent));
    }
  }
  if (open !== undefined) {
    blocks.push({ info: open.info, content: content.join("\n"), closed: false });
  }
  return blocks;
}

function isClosingFence(line: string, char: string, minLength: number): boolean {
  let i = 0;
  while (i < 3 && line[i] === " ") i++;
  const start = i;
  while (line[i] === char) i++;
  if (i - start < minLength) return false;
  for (; i < line.length; i++) {
    if (line[i] !== " " && line[i] !== "\t") return false;
  }
  return true;
}

/** `line` without up to `indent` leading spaces: the opening fence's indent is not content. */
function stripIndent(line: string, indent: number): string {
  let i = 0;
  while (i < indent && line[i] === " ") i++;
  return line.slice(i);
}
