/**
 * Whether text shows anything: a topic or a section title of only zero-width, format or space
 * characters looks empty on every screen, so it is treated as empty.
 *
 * @module
 */

// Not visible on their own: white space, default-ignorable code points (zero-width spaces and
// joiners, U+2060, U+FEFF, U+00AD, Hangul fillers, variation selectors, tags), other controls
// and format characters, combining marks with nothing to attach to, lone surrogates, and the
// blank braille pattern that fonts draw as nothing.
const VISIBLE =
  /[^\p{White_Space}\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Cs}\p{Mn}\p{Me}\u2800]/u;

/**
 * Whether `text` holds at least one character that shows on screen.
 *
 * @example
 * ```ts
 * import { hasVisibleCharacter } from "./visible_text.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(hasVisibleCharacter("tea"), true);
 * assert.equal(hasVisibleCharacter("\u200B\u200D\uFEFF \u00AD"), false);
 * ```
 */
export function hasVisibleCharacter(text: string): boolean {
  return VISIBLE.test(text);
}
