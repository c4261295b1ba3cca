/**
 * An HTTP/1.1 response read straight off a socket's bytes, for the socket transport of streamed
 * LLM answers (`socket_chat_transport.ts`): the status line and headers, then a body framed by
 * `Transfer-Encoding: chunked`, `Content-Length` or the connection's end, handed on in the
 * pieces it arrived in (RFC 9112 §6.3). Interim `1xx` heads are skipped; trailers are read and
 * dropped. Limits on the head and on chunk-size lines keep a broken server from growing memory.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const SPACE = 32;
const TAB = 9;
const SEMICOLON = 59;

/** The value of a hex digit's byte, or -1. */
function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}
const latin1 = new TextDecoder("latin1");

/** The most bytes a response head may take. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** The most bytes a chunk-size or trailer line may take. */
const MAX_LINE_BYTES = 4 * 1024;

const enum State {
  Head,
  Size,
  Data,
  DataEnd,
  Trailer,
  Length,
  UntilClose,
  Done,
}

/** What a response could not be read as (the connection is not reusable after it). */
export class Http1SyntaxError extends SyntaxError {
  /** Creates the error; `message` says what was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "Http1SyntaxError";
  }
}

/**
 * Parses one response fed to it in any split. `feed` returns true once the response has ended,
 * `used` then telling how many bytes of the last piece were its own. A body framed by the
 * connection's end ends with `close()`.
 *
 * @example
 * ```ts
 * import { Http1Response } from "./http1_response.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode(
 *   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: r1\r\n\r\n" +
 *     "5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n",
 * );
 * let body = "";
 * const response = new Http1Response((piece) => body += new TextDecoder().decode(piece));
 * assert.equal(response.feed(bytes.subarray(0, 40)), false);
 * assert.equal(response.feed(bytes.subarray(40)), true);
 * assert.equal(response.status, 200);
 * assert.equal(response.headers.get("x-request-id"), "r1");
 * assert.equal(body, "hello!");
 * assert.equal(response.reusable, true);
 * ```
 */
export class Http1Response {
  /** The status code, once the head has arrived (0 before). */
  status = 0;
  /** The response's headers, once the head has arrived. */
  headers: Headers = new Headers();
  /** Whether the connection may carry another request once this response has ended. */
  reusable = true;
  /** Bytes of the last piece fed that belonged to this response. */
  used = 0;
  #state = State.Head;
  /** The head so far, when it spans pieces. */
  #head: Uint8Array | undefined;
  #headLength = 0;
  #remaining = 0;
  /** Bytes of the current chunk-size or trailer line so far. */
  #lineBytes = 0;
  /** The chunk size read so far, its hex digits, and whether an extension (`;…`) began. */
  #size = 0;
  #sizeDigits = 0;
  #sizeDone = false;
  readonly #onBody: (piece: Uint8Array) => void;
  readonly #onHead: (() => void) | undefined;

  /**
   * Creates a parser handing each piece of the body to `onBody` (valid only during the call),
   * and calling `onHead` once the final head is read, before any of the body.
   */
  constructor(onBody: (piece: Uint8Array) => void, onHead?: () => void) {
    this.#onBody = onBody;
    this.#onHead = onHead;
  }

  /** Whether the head has been read. */
  get headed(): boolean {
    return this.status >= 200;
  }

  /** Whether the whole response has been read. */
  get done(): boolean {
    return this.#state === State.Done;
  }

  /**
   * Feeds the next bytes; true once the response is complete. Throws {@linkcode Http1SyntaxError}
   * on bytes that are not an HTTP/1.1 response, and whatever `onBody` throws.
   */
  feed(bytes: Uint8Array): boolean {
    let i = 0;
    const n = bytes.length;
    while (i < n && this.#state !== State.Done) {
      switch (this.#state) {
        case State.Head:
          i = this.#feedHead(bytes, i);
          break;
        case State.Size:
          i = this.#feedSize(bytes, i);
          break;
        case State.Data:
        case State.Length:
        case State.UntilClose: {
          const take = this.#state === State.UntilClose ? n - i : Math.min(this.#remaining, n - i);
          const end = i + take;
          // Counted before the hand-over: what `onBody` throws leaves the parser consistent.
          this.#remaining -= take;
          if (take > 0) this.#onBody(i === 0 && end === n ? bytes : bytes.subarray(i, end));
          i = end;
          if (this.#remaining === 0 && this.#state !== State.UntilClose) {
            if (this.#state === State.Length) this.#state = State.Done;
            else {
              this.#state = State.DataEnd;
              this.#remaining = 2;
            }
          }
          break;
        }
        case State.DataEnd: {
          // The CRLF after a chunk's data.
          const byte = bytes[i++] as number;
          if (byte !== (this.#remaining === 2 ? CR : LF)) {
            throw new Http1SyntaxError("A chunk's data is not followed by CRLF");
          }
          if (--this.#remaining === 0) this.#state = State.Size;
          break;
        }
        case State.Trailer:
          i = this.#feedTrailer(bytes, i);
          break;
      }
    }
    this.used = i;
    return this.#state === State.Done;
  }

  /**
   * The connection ended: true when that ends a body framed by it, false when the response was
   * cut short (its head, a chunk or its length not yet whole).
   */
  close(): boolean {
    if (this.#state === State.UntilClose) this.#state = State.Done;
    return this.#state === State.Done;
  }

  #feedHead(bytes: Uint8Array, start: number): number {
    // The head ends at the first CRLF CRLF, which may straddle pieces: searched in the bytes
    // kept so far plus this piece, from three bytes before the piece.
    let head: Uint8Array;
    let from: number;
    if (this.#headLength === 0) {
      head = bytes.subarray(start);
      from = 0;
    } else {
      const kept = this.#headLength;
      head = this.#keep(bytes.subarray(start));
      from = Math.max(0, kept - 3);
    }
    let end = -1;
    for (let k = head.indexOf(LF, from); k !== -1; k = head.indexOf(LF, k + 1)) {
      if (k >= 3 && head[k - 1] === CR && head[k - 2] === LF && head[k - 3] === CR) {
        end = k + 1;
        break;
      }
    }
    if (end === -1) {
      if (this.#headLength === 0) this.#keep(head);
      if (this.#headLength > MAX_HEAD_BYTES) {
        throw new Http1SyntaxError(`A response head over ${MAX_HEAD_BYTES} bytes`);
      }
      return bytes.length;
    }
    const consumed = end - (this.#headLength === 0 ? 0 : this.#headLength - (bytes.length - start));
    this.#head = undefined;
    this.#headLength = 0;
    this.#readHead(latin1.decode(head.subarray(0, end - 4)));
    return start + consumed;
  }

  /** Appends `bytes` to the head kept so far and returns all of it. */
  #keep(bytes: Uint8Array): Uint8Array {
    const length = this.#headLength + bytes.length;
    if (!this.#head || this.#head.length < length) {
      const grown = new Uint8Array(Math.max(length, 2 * (this.#head?.length ?? 512)));
      if (this.#head) grown.set(this.#head.subarray(0, this.#headLength));
      this.#head = grown;
    }
    this.#head.set(bytes, this.#headLength);
    this.#headLength = length;
    return this.#head.subarray(0, length);
  }

  /**
   * Reads a chunk-size line (hex digits, then an extension after `;` that is ignored) byte by
   * byte, with no string built: it precedes every chunk, and a streamed answer is mostly chunks of
   * one event each. Returns the index after the bytes taken.
   */
  #feedSize(bytes: Uint8Array, start: number): number {
    let i = start;
    while (i < bytes.length) {
      const byte = bytes[i++] as number;
      if (byte === LF) {
        if (this.#sizeDigits === 0) throw new Http1SyntaxError("A chunk-size line with no size");
        const size = this.#size;
        this.#size = 0;
        this.#sizeDigits = 0;
        this.#sizeDone = false;
        this.#lineBytes = 0;
        if (size === 0) this.#state = State.Trailer;
        else {
          this.#remaining = size;
          this.#state = State.Data;
        }
        return i;
      }
      this.#countLineByte();
      if (byte === CR || this.#sizeDone) continue;
      const digit = hexValue(byte);
      if (digit !== -1) {
        // 13 hex digits reach 2^52: beyond that a size is no longer exact.
        if (++this.#sizeDigits > 13) throw new Http1SyntaxError("A chunk size over 13 hex digits");
        this.#size = this.#size * 16 + digit;
      } else if ((byte === SEMICOLON || byte === SPACE || byte === TAB) && this.#sizeDigits > 0) {
        this.#sizeDone = true;
      } else {
        throw new Http1SyntaxError(`Bad chunk-size line: byte ${byte} at the size`);
      }
    }
    return i;
  }

  /** Reads trailer lines until an empty one (with no trailers, the CRLF right after `0\r\n`). */
  #feedTrailer(bytes: Uint8Array, start: number): number {
    let i = start;
    while (i < bytes.length) {
      const byte = bytes[i++] as number;
      if (byte === LF) {
        if (this.#lineBytes === 0) {
          this.#state = State.Done;
          return i;
        }
        this.#lineBytes = 0;
      } else if (byte !== CR) this.#countLineByte();
    }
    return i;
  }

  #countLineByte(): void {
    if (++this.#lineBytes > MAX_LINE_BYTES) {
      throw new Http1SyntaxError(`A chunk-size or trailer line over ${MAX_LINE_BYTES} bytes`);
    }
  }

  #readHead(text: string): void {
    const lines = text.split("\r\n");
    const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0] ?? "");
    if (!statusLine) {
      throw new Http1SyntaxError(`Not an HTTP/1.x status line: ${JSON.stringify(lines[0])}`);
    }
    const status = Number(statusLine[2]);
    if (status === 101) throw new Http1SyntaxError("The server switched protocols");
    // An interim answer (100 Continue, 103 Early Hints): the real head follows.
    if (status < 200) return;
    this.status = status;
    const headers = new Headers();
    for (let k = 1; k < lines.length; k++) {
      const line = lines[k] as string;
      const colon = line.indexOf(":");
      if (colon <= 0) throw new Http1SyntaxError(`Bad header line: ${JSON.stringify(line)}`);
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    this.headers = headers;
    const connection = headers.get("connection")?.toLowerCase() ?? "";
    // HTTP/1.0 closes unless asked to keep alive; 1.1 keeps alive unless told to close.
    this.reusable = statusLine[1] === "1"
      ? !connection.includes("close")
      : connection.includes("keep-alive");
    const encoding = headers.get("transfer-encoding")?.toLowerCase();
    const length = headers.get("content-length");
    if (status === 204 || status === 304) this.#state = State.Done;
    else if (encoding !== undefined && encoding !== null) {
      if (!/(^|,)\s*chunked\s*$/.test(encoding)) {
        // Framed by the connection's end (RFC 9112 §6.3, point 4).
        this.#state = State.UntilClose;
        this.reusable = false;
      } else this.#state = State.Size;
    } else if (length !== null) {
      if (!/^\d{1,15}$/.test(length)) {
        throw new Http1SyntaxError(`Bad Content-Length: ${JSON.stringify(length)}`);
      }
      this.#remaining = Number(length);
      this.#state = this.#remaining === 0 ? State.Done : State.Length;
    } else {
      this.#state = State.UntilClose;
      this.reusable = false;
    }
    this.#onHead?.();
  }
}
