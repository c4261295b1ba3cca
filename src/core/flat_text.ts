/**
 * Text kept for as long as a job is kept (its log and record) in one piece.
 *
 * @module
 */

/**
 * Returns `text`, flattened: a string built by `+=` or a template is a tree of its pieces until
 * something reads it whole, and a tree kept with a job is dozens of objects that every garbage
 * collection copies or marks (49 per zero-delay job, a third of what the job kept). Reading one
 * character makes V8 store the text in one piece; the pieces then die young.
 *
 * @example
 * ```ts
 * import { flatText } from "./flat_text.ts";
 * import assert from "node:assert/strict";
 *
 * let text = "";
 * for (const word of ["a ", "b ", "c"]) text += word;
 * assert.equal(flatText(text), "a b c");
 * ```
 */
export function flatText(text: string): string {
  text.charCodeAt(0);
  return text;
}
