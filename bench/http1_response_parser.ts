/**
 * An HTTP/1.1 response read straight off a socket's bytes: the status line and headers, then a
 * `Transfer-Encoding: chunked` or `Content-Length` body handed on in the pieces it arrived in.
 * For the raw-socket transports of `chat_transports.ts`, which measure what reading a streamed
 * LLM answer costs without the runtime's HTTP client in between. Trailers are skipped; `1xx`
 * responses, `Connection: close` bodies and pipelining are not supported (a loopback benchmark
 * server sends none of them).
 *
 * @module
 */

const CR = 13;
const LF = 10;
const latin1 = new TextDecoder("latin1");

type State = "head" | "size" | "data" | "data-end" | "trailer" | "length" | "done";

/**
 * Parses one response fed to it in any split; `feed` returns true once the response has ended,
 * with the count of bytes of the last piece that belonged to it.
 *
 * @example
 * ```ts
 * import { Http1ResponseParser } from "./http1_response_parser.ts";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode(
 *   "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n",
 * );
 * let body = "";
 * const parser = new Http1ResponseParser((piece) => body += new TextDecoder().decode(piece));
 * assert.equal(parser.feed(bytes.subarray(0, 40)), false);
 * assert.equal(parser.feed(bytes.subarray(40)), true);
 * assert.equal(parser.status, 200);
 * assert.equal(body, "hello!");
 * ```
 */
export class Http1ResponseParser {
  /** The status code, once the head has arrived. */
  status = 0;
  /** Whether the server asked to close the connection after this response. */
  close = false;
  /** Bytes of the last piece fed that belonged to this response (the rest is not ours). */
  used = 0;
  #state: State = "head";
  #head: number[] = [];
  #remaining = 0;
  #sizeLine = "";
  #trailerLine = 0;
  readonly #onBody: (piece: Uint8Array) => void;

  /** Creates a parser handing each piece of the body to `onBody` (valid only during the call). */
  constructor(onBody: (piece: Uint8Array) => void) {
    this.#onBody = onBody;
  }

  /** Feeds the next bytes; true once the response is complete. Throws `SyntaxError` on bad input. */
  feed(bytes: Uint8Array): boolean {
    let i = 0;
    const n = bytes.length;
    while (i < n && this.#state !== "done") {
      switch (this.#state) {
        case "head": {
          const head = this.#head;
          while (i < n) {
            head.push(bytes[i++] as number);
            const k = head.length;
            if (
              k >= 4 && head[k - 1] === LF && head[k - 2] === CR && head[k - 3] === LF &&
              head[k - 4] === CR
            ) {
              this.#readHead(latin1.decode(new Uint8Array(head)));
              break;
            }
          }
          break;
        }
        case "size": {
          while (i < n) {
            const byte = bytes[i++] as number;
            if (byte === LF) {
              const size = parseInt(this.#sizeLine.split(";")[0] as string, 16);
              this.#sizeLine = "";
              if (!Number.isFinite(size)) throw new SyntaxError("Bad chunk size line");
              if (size === 0) {
                this.#state = "trailer";
                this.#trailerLine = 0;
              } else {
                this.#remaining = size;
                this.#state = "data";
              }
              break;
            }
            if (byte !== CR) this.#sizeLine += String.fromCharCode(byte);
          }
          break;
        }
        case "data":
        case "length": {
          const take = Math.min(this.#remaining, n - i);
          if (take > 0) this.#onBody(bytes.subarray(i, i + take));
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            if (this.#state === "length") this.#state = "done";
            else {
              this.#state = "data-end";
              this.#remaining = 2;
            }
          }
          break;
        }
        case "data-end": {
          // The CRLF after a chunk's data.
          const take = Math.min(this.#remaining, n - i);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = "size";
          break;
        }
        case "trailer": {
          // Lines until an empty one; with no trailers that is the CRLF right after `0\r\n`.
          while (i < n) {
            const byte = bytes[i++] as number;
            if (byte === LF) {
              if (this.#trailerLine === 0) {
                this.#state = "done";
                break;
              }
              this.#trailerLine = 0;
            } else if (byte !== CR) this.#trailerLine++;
          }
          break;
        }
      }
    }
    this.used = i;
    return this.#state === "done";
  }

  #readHead(head: string): void {
    this.#head = [];
    const lines = head.split("\r\n");
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!status) throw new SyntaxError(`Not an HTTP/1.1 response: ${lines[0]}`);
    this.status = Number(status[1]);
    let chunked = false;
    let length: number | undefined;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim().toLowerCase();
      if (name === "transfer-encoding") chunked = value.includes("chunked");
      else if (name === "content-length") length = Number(value);
      else if (name === "connection") this.close = value.includes("close");
    }
    if (chunked) this.#state = "size";
    else if (length !== undefined) {
      this.#remaining = length;
      this.#state = length === 0 ? "done" : "length";
    } else throw new SyntaxError("A response with neither chunked encoding nor a length");
  }
}
