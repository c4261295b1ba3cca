/**
 * HTTP/1.1 requests over `Deno.connect` with keep-alive connections, the response read with
 * `conn.read` into one buffer and parsed by hand (`src/llm/http1_response.ts`): no web streams,
 * one read op per arrival. The cheapest way found to read a streamed response from Deno
 * (BENCHMARKS.md, "Issue 17 baseline"); the benchmarks use it for LLM bodies and for watching
 * thousands of event streams. Enough HTTP for loopback benchmark servers, no more.
 *
 * @module
 */

import { Http1Response } from "../src/llm/http1_response.ts";

const encoder = new TextEncoder();
const idle = new Map<string, Deno.TcpConn[]>();

/** A request: method, path on the host, and an optional JSON body. */
export interface TcpRequest {
  method: "GET" | "POST";
  /** A body sent as `application/json`. */
  json?: string;
  /** Extra header lines, each `name: value`. */
  headers?: string[];
}

function requestBytes(url: URL, request: TcpRequest): Uint8Array {
  const payload = request.json === undefined ? undefined : encoder.encode(request.json);
  let head = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const line of request.headers ?? []) head += `${line}\r\n`;
  if (payload) head += `content-type: application/json\r\ncontent-length: ${payload.length}\r\n`;
  const headBytes = encoder.encode(`${head}\r\n`);
  if (!payload) return headBytes;
  const out = new Uint8Array(headBytes.length + payload.length);
  out.set(headBytes);
  out.set(payload, headBytes.length);
  return out;
}

/** Sends `bytes` on `conn` and reads one response; `undefined` when a reused conn was dead. */
async function exchange(
  conn: Deno.TcpConn,
  host: string,
  bytes: Uint8Array,
  onBody: (piece: Uint8Array) => void,
  reused: boolean,
): Promise<number | undefined> {
  try {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  } catch (error) {
    conn.close();
    if (reused) return undefined;
    throw error;
  }
  const response = new Http1Response(onBody);
  const buffer = new Uint8Array(16_384);
  let got = 0;
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch (error) {
      try {
        conn.close();
      } catch { /* closed already */ }
      if (reused && got === 0) return undefined;
      throw error;
    }
    if (n === null) {
      conn.close();
      // A kept-alive connection the server closed before answering: the caller tries anew.
      if (reused && got === 0) return undefined;
      throw new Error(`${host} closed the connection mid-response`);
    }
    got += n;
    if (response.feed(buffer.subarray(0, n))) break;
  }
  if (!response.reusable) conn.close();
  else {
    let list = idle.get(host);
    if (!list) idle.set(host, list = []);
    list.push(conn);
  }
  return response.status;
}

/**
 * Sends `request` to `url` and hands each piece of the response body to `onBody` (valid only
 * during the call) as it arrives; resolves with the status once the body has ended.
 *
 * @example
 * ```ts
 * import { tcpCloseIdle, tcpRequest } from "./tcp_http_client.ts";
 * import assert from "node:assert/strict";
 *
 * const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (r) =>
 *   new Response(`got ${(await r.json()).n}`));
 * let body = "";
 * const status = await tcpRequest(
 *   new URL(`http://127.0.0.1:${server.addr.port}/`),
 *   { method: "POST", json: '{"n":1}' },
 *   (piece) => body += new TextDecoder().decode(piece),
 * );
 * assert.equal(status, 200);
 * assert.equal(body, "got 1");
 * tcpCloseIdle();
 * await server.shutdown();
 * ```
 */
export async function tcpRequest(
  url: URL,
  request: TcpRequest,
  onBody: (piece: Uint8Array) => void,
): Promise<number> {
  const bytes = requestBytes(url, request);
  const pooled = idle.get(url.host)?.pop();
  if (pooled) {
    const status = await exchange(pooled, url.host, bytes, onBody, true);
    if (status !== undefined) return status;
  }
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  return await exchange(conn, url.host, bytes, onBody, false) as number;
}

/** Closes every kept-alive connection. */
export function tcpCloseIdle(): void {
  for (const list of idle.values()) {
    for (const conn of list) conn.close();
  }
  idle.clear();
}
