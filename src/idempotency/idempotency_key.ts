/**
 * The `Idempotency-Key` request header (IETF httpapi draft "The Idempotency-Key HTTP Header
 * Field"): a Structured Field string such as `"8e03978e-40d5-43e8-bc93-6894a57f9324"`. The
 * bare form many clients send (`Idempotency-Key: 8e03978e-…`, as Stripe's) is taken too, and
 * names the same key as its quoted form.
 *
 * @module
 */

import { HttpError } from "../core/http_error.ts";

/** Longest key, in characters. */
export const MAX_KEY_LENGTH = 255;

function invalid(why: string): HttpError {
  return new HttpError(
    400,
    "invalid_idempotency_key",
    `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters, bare or as a quoted string: ${why}`,
  );
}

/** The characters of an RFC 8941 string between its quotes, unescaped; undefined if not one. */
function unquote(raw: string): string | undefined {
  let out = "";
  for (let i = 1; i < raw.length; i++) {
    const char = raw[i] as string;
    if (char === "\\") {
      const next = raw[++i];
      if (next !== '"' && next !== "\\") return undefined;
      out += next;
    } else if (char === '"') {
      return i === raw.length - 1 ? out : undefined;
    } else {
      out += char;
    }
  }
  return undefined; // no closing quote
}

/**
 * The key of header value `raw` (`null`: no header, `undefined` back). Throws a 400
 * {@linkcode HttpError} `invalid_idempotency_key` saying what is wrong.
 *
 * @example
 * ```ts
 * import { parseIdempotencyKey } from "./idempotency_key.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseIdempotencyKey('"order-17"'), "order-17");
 * assert.equal(parseIdempotencyKey("order-17"), "order-17");
 * assert.equal(parseIdempotencyKey('"say \\"hi\\""'), 'say "hi"');
 * assert.equal(parseIdempotencyKey(null), undefined);
 * assert.throws(() => parseIdempotencyKey('""'), /1 to 255/);
 * assert.throws(() => parseIdempotencyKey("k".repeat(256)), /256/);
 * assert.throws(() => parseIdempotencyKey("caf\u00e9"), /printable ASCII/);
 * ```
 */
export function parseIdempotencyKey(raw: string | null): string | undefined {
  if (raw === null) return undefined;
  let key = raw;
  if (raw.startsWith('"')) {
    const inner = unquote(raw);
    if (inner === undefined) throw invalid("a quoted key must end with its closing quote");
    key = inner;
  }
  if (key.length === 0) throw invalid("it is empty");
  if (key.length > MAX_KEY_LENGTH) throw invalid(`it has ${key.length} characters`);
  if (/[^\x20-\x7e]/.test(key)) throw invalid("it holds a character that is not printable ASCII");
  return key;
}
