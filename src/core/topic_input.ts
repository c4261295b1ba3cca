/**
 * Reading a job's topic out of a request body: size-limited, strict UTF-8, JSON or form.
 *
 * @module
 */

import { flatText } from "./flat_text.ts";
import { HttpError } from "./http_error.ts";
import { hasVisibleCharacter } from "./visible_text.ts";

/** Longest topic, in characters, after trimming. */
export const MAX_TOPIC_CHARS = 500;

// Control characters other than tab and newline (CR is allowed only as part of CRLF).
// deno-lint-ignore no-control-regex -- matching control characters is the point
const FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\u0080-\u009F]|\r(?!\n)/;

/**
 * Checks a topic and returns it trimmed; throws a 400 {@linkcode HttpError} saying what is wrong.
 *
 * @example
 * ```ts
 * import { validateTopic } from "./topic_input.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(validateTopic("  AI safety "), "AI safety");
 * assert.throws(() => validateTopic("   "));
 * assert.throws(() => validateTopic("\u200B\u2060"));
 * ```
 */
export function validateTopic(value: unknown): string {
  if (value === undefined || value === null) {
    throw new HttpError(400, "missing_topic", "The request needs a 'topic'");
  }
  if (typeof value !== "string") {
    throw new HttpError(400, "invalid_topic", "'topic' must be a string");
  }
  if (!value.isWellFormed()) {
    throw new HttpError(400, "invalid_topic", "'topic' holds an unpaired surrogate");
  }
  const topic = value.trim();
  if (topic === "") throw new HttpError(400, "invalid_topic", "'topic' must not be empty");
  let chars = 0;
  for (const _ of topic) chars++;
  if (chars > MAX_TOPIC_CHARS) {
    throw new HttpError(
      400,
      "invalid_topic",
      `'topic' must be at most ${MAX_TOPIC_CHARS} characters: it has ${chars}`,
    );
  }
  if (FORBIDDEN.test(topic)) {
    throw new HttpError(
      400,
      "invalid_topic",
      "'topic' must not hold control characters other than newline and tab",
    );
  }
  if (!hasVisibleCharacter(topic)) {
    throw new HttpError(
      400,
      "invalid_topic",
      "'topic' must hold a visible character, not only zero-width, format or space characters",
    );
  }
  // Kept with the job as long as it is: in one piece (a form's topic is built up).
  return flatText(topic);
}

async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new HttpError(413, "body_too_large", `The request body must be at most ${maxBytes} bytes`);
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (declared !== null) {
    // Within the limit and of a known length (the server holds the body to it): read in one go,
    // which costs a fraction of a reader's loop for the small bodies submits have. Before
    // `request.body`, which would build a stream around a body the server already holds whole.
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await request.bytes();
    } catch (error) {
      throw new HttpError(400, "bad_body", "The request body could not be read", { cause: error });
    }
    // A `Request` built in process is held to no declared length.
    if (bytes.byteLength > maxBytes) throw tooLarge();
    return bytes;
  }
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "bad_body", "The request body could not be read", { cause: error });
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
// A form's fields are decoded "without BOM" (WHATWG URL): a leading U+FEFF is kept, not eaten.
const fieldDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function invalidUtf8(cause: unknown): HttpError {
  return new HttpError(400, "invalid_utf8", "The request body is not valid UTF-8", { cause });
}

function isHexDigit(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) ||
    (byte >= 0x61 && byte <= 0x66);
}

/** One name or value of a form: `+` is a space, `%XX` a byte; the bytes must be UTF-8. */
function decodeFormPart(part: string): string {
  const spaced = part.replaceAll("+", " ");
  if (!spaced.includes("%")) return spaced;
  const bytes = encoder.encode(spaced);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x25 && isHexDigit(bytes[i + 1] ?? 0) && isHexDigit(bytes[i + 2] ?? 0)) {
      out[n++] = parseInt(String.fromCharCode(bytes[i + 1] as number, bytes[i + 2] as number), 16);
      i += 2;
    } else {
      out[n++] = byte;
    }
  }
  try {
    return fieldDecoder.decode(out.subarray(0, n));
  } catch (error) {
    throw invalidUtf8(error);
  }
}

/**
 * The first value of field `name` in an `application/x-www-form-urlencoded` body, parsed as
 * WHATWG URL's parser does except that bytes that are not UTF-8 are refused: `URLSearchParams`
 * would turn them into U+FFFD, and a topic must not change on the way in.
 */
function formField(body: string, name: string): string | null {
  let found: string | null = null;
  for (const pair of body.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decodeFormPart(eq === -1 ? pair : pair.slice(0, eq));
    // Every field is decoded, so any one that is not UTF-8 refuses the whole form.
    const value = decodeFormPart(eq === -1 ? "" : pair.slice(eq + 1));
    if (key === name && found === null) found = value;
  }
  return found;
}

/**
 * The validated topic of a submit request: a JSON object `{"topic": "..."}`, or a form
 * (`application/x-www-form-urlencoded` or `multipart/form-data`) with a `topic` field. Any
 * body that is not UTF-8, percent-encoded form fields included, is a 400.
 */
export async function readTopic(request: Request, maxBytes: number): Promise<string> {
  return (await readSubmitBody(request, maxBytes)).topic;
}

/** A submit request's body: its validated topic, and its other fields as sent. */
export interface SubmitBody {
  /** The topic, validated and trimmed. */
  topic: string;
  /** Field `name` (a JSON value, or a form field's text or file); absent: `undefined`. */
  field(name: string): unknown;
}

/** The body of a submit request, read as {@linkcode readTopic} says. */
export async function readSubmitBody(request: Request, maxBytes: number): Promise<SubmitBody> {
  const type = (request.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ??
    "";
  const isJson = type === "application/json" || type.endsWith("+json");
  const isForm = type === "application/x-www-form-urlencoded";
  const isMultipart = type === "multipart/form-data";
  if (!isJson && !isForm && !isMultipart) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      "Send the topic as application/json, application/x-www-form-urlencoded or multipart/form-data",
    );
  }
  const bytes = await readLimited(request, maxBytes);
  let text: string;
  try {
    // Multipart too: its parser would turn bytes that are not UTF-8 into U+FFFD.
    text = decoder.decode(bytes);
  } catch (error) {
    throw invalidUtf8(error);
  }
  if (isMultipart) {
    let form: FormData;
    try {
      form = await new Response(bytes, {
        headers: { "content-type": request.headers.get("content-type") ?? "" },
      })
        .formData();
    } catch (error) {
      throw new HttpError(400, "bad_form", "The multipart body could not be parsed", {
        cause: error,
      });
    }
    const topic = form.get("topic");
    if (topic !== null && typeof topic !== "string") {
      throw new HttpError(400, "invalid_topic", "'topic' must be a text field, not a file");
    }
    return { topic: validateTopic(topic), field: (name) => form.get(name) ?? undefined };
  }
  if (isForm) {
    return {
      topic: validateTopic(formField(text, "topic")),
      field: (name) => formField(text, name) ?? undefined,
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      "invalid_json",
      `The request body is not valid JSON: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "invalid_json", "The request body must be a JSON object");
  }
  const fields = body as Record<string, unknown>;
  return {
    topic: validateTopic(fields.topic),
    field: (name) => Object.hasOwn(fields, name) ? fields[name] : undefined,
  };
}
