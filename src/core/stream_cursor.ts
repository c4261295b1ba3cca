/**
 * The cursors of the stream of several jobs (`GET /api/events`): the `id:` of each of its frames,
 * which a client sends back as `Last-Event-ID` (or `?since=`) to resume every job of the stream at
 * once. Clients treat them as opaque text; this module is the only one that reads them.
 *
 * - A stream of listed jobs (`?jobs=a,b,c`): a kind byte `L`, a 32-bit fingerprint of the job list
 *   (so a cursor of another list is refused rather than misapplied), then, per listed job in list
 *   order, the id of the last event delivered as an unsigned LEB128 varint. Base64url, no padding:
 *   12 jobs with ids under 128 make 23 characters, 100 jobs with ids under 16,384 about 280.
 * - The stream of every job: a kind byte `A` and the store's position in the order of every job's
 *   appends (see {@linkcode comparePositions}), as ASCII, base64url.
 *
 * @module
 */

/** Why a cursor could not be read. */
export class CursorError extends SyntaxError {
  /** Creates the error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = "CursorError";
  }
}

const LISTED = 0x4c; // "L"
const EVERY = 0x41; // "A"
/** Two non-negative integers joined by `-` at most; 16 digits each is within Number's exact range. */
const POSITION = /^\d{1,16}(?:-\d{1,16})?$/;

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]{1,4096}$/.test(text)) throw new CursorError("it is not base64url text");
  let binary: string;
  try {
    binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw new CursorError("it is not base64url text");
  }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * A 32-bit FNV-1a hash of the job ids in order: what ties a cursor to its list.
 *
 * @example
 * ```ts
 * import { listFingerprint } from "./stream_cursor.ts";
 * import assert from "node:assert/strict";
 *
 * assert.notEqual(listFingerprint(["a", "b"]), listFingerprint(["b", "a"]));
 * ```
 */
export function listFingerprint(jobIds: readonly string[]): number {
  let hash = 0x811c9dc5;
  for (const id of jobIds) {
    for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
    hash = Math.imul(hash ^ 0x2c, 0x01000193); // the separator
  }
  return hash >>> 0;
}

/**
 * The cursor of a stream of listed jobs whose fingerprint is `fingerprint` (see
 * {@linkcode listFingerprint}) that has delivered each job's events up to `lastIds[i]`.
 *
 * @example
 * ```ts
 * import { decodeListedCursor, encodeListedCursor, listFingerprint } from "./stream_cursor.ts";
 * import assert from "node:assert/strict";
 *
 * const jobs = ["job-a", "job-b"];
 * const cursor = encodeListedCursor(listFingerprint(jobs), [3, 200]);
 * assert.deepEqual(decodeListedCursor(cursor, jobs), [3, 200]);
 * ```
 */
export function encodeListedCursor(fingerprint: number, lastIds: readonly number[]): string {
  const bytes: number[] = [
    LISTED,
    fingerprint >>> 24,
    (fingerprint >>> 16) & 0xff,
    (fingerprint >>> 8) & 0xff,
    fingerprint & 0xff,
  ];
  for (let value of lastIds) {
    // Event ids stay far below 2^31, so 32-bit shifts are exact.
    while (value >= 0x80) {
      bytes.push((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    bytes.push(value);
  }
  return toBase64Url(Uint8Array.from(bytes));
}

/**
 * The last event id per job of `jobIds` that `cursor` resumes after. Throws
 * {@linkcode CursorError} when it is not a cursor of a stream of exactly these jobs.
 */
export function decodeListedCursor(cursor: string, jobIds: readonly string[]): number[] {
  const bytes = fromBase64Url(cursor);
  if (bytes[0] !== LISTED || bytes.length < 5) {
    throw new CursorError("it is not the cursor of a stream of listed jobs");
  }
  const fingerprint = ((bytes[1] as number) << 24 | (bytes[2] as number) << 16 |
    (bytes[3] as number) << 8 | (bytes[4] as number)) >>> 0;
  if (fingerprint !== listFingerprint(jobIds)) {
    throw new CursorError("it belongs to a stream of other jobs, or of these in another order");
  }
  const lastIds: number[] = [];
  let value = 0;
  let shift = 0;
  for (let i = 5; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    if (shift > 28) throw new CursorError("it holds an id out of range");
    value += (byte & 0x7f) * 2 ** shift;
    if (byte & 0x80) {
      shift += 7;
      continue;
    }
    lastIds.push(value);
    value = 0;
    shift = 0;
  }
  if (shift !== 0 || lastIds.length !== jobIds.length) {
    throw new CursorError(`it does not hold one id per listed job (${jobIds.length})`);
  }
  return lastIds;
}

/**
 * The cursor of the stream of every job, at the store's position `position`.
 *
 * @example
 * ```ts
 * import { decodeEveryCursor, encodeEveryCursor } from "./stream_cursor.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(decodeEveryCursor(encodeEveryCursor("1700000000000-3")), "1700000000000-3");
 * ```
 */
export function encodeEveryCursor(position: string): string {
  return toBase64Url(Uint8Array.from([EVERY, ...Array.from(position, (c) => c.charCodeAt(0))]));
}

/** The store position `cursor` resumes after; throws {@linkcode CursorError} when it is none. */
export function decodeEveryCursor(cursor: string): string {
  const bytes = fromBase64Url(cursor);
  if (bytes[0] !== EVERY) throw new CursorError("it is not the cursor of the stream of every job");
  const position = String.fromCharCode(...bytes.subarray(1));
  if (!POSITION.test(position)) throw new CursorError("it holds no position");
  return position;
}

/**
 * Orders two store positions: each is one or two non-negative integers joined by `-` (a counter
 * for the embedded stores, a Redis stream entry id for Redis), compared part by part. Negative
 * when `a` comes first.
 *
 * @example
 * ```ts
 * import { comparePositions } from "./stream_cursor.ts";
 * import assert from "node:assert/strict";
 *
 * assert.ok(comparePositions("9", "10") < 0);
 * assert.ok(comparePositions("5-2", "5-10") < 0);
 * assert.equal(comparePositions("7", "7"), 0);
 * ```
 */
export function comparePositions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split("-").map(Number);
  const [b1 = 0, b2 = 0] = b.split("-").map(Number);
  return a1 !== b1 ? a1 - b1 : a2 - b2;
}
