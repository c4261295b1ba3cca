/**
 * Every way found to read a streamed chat completion from Deno, behind one signature, so the
 * benchmarks can put each transport's CPU per chunk side by side (`bench/chunk_cost.ts`) and the
 * relay floor can use the cheapest (`bench/relay_floor.ts`):
 *
 * - `fetch`: `fetch` and `for await` over the body, the minimal parse.
 * - `fetch-lean`: `fetch` and the service's own body reader (`src/llm/chat_completion_reader.ts`).
 * - `sdk`: what the service does: the `openai` SDK sends the request, `asResponse()` hands the
 *   body to `src/llm/chat_completion_reader.ts`.
 * - `node-http`: `node:http` with a keep-alive agent, the minimal parse.
 * - `node-net`: a `node:net` socket per request (pooled), HTTP/1.1 parsed by hand.
 * - `tcp`: `Deno.connect` (pooled), `conn.read` into one buffer, HTTP/1.1 parsed by hand
 *   (`tcp_http_client.ts`).
 *
 * The hand-parsed ones speak just enough HTTP/1.1 for the loopback LLM server.
 *
 * @module
 */

import http from "node:http";
import net from "node:net";
import { Buffer } from "node:buffer";
import OpenAI from "openai";
import { readChatStream } from "../src/llm/chat_completion_reader.ts";
import { ChatChunkParser } from "./chat_chunk_parser.ts";
import { Http1Response } from "../src/llm/http1_response.ts";
import { tcpRequest } from "./tcp_http_client.ts";

/**
 * Streams one chat completion whose JSON request body is `body` from the OpenAI-compatible
 * server at `baseUrl` (ending in `/v1`); calls `onDelta` per text delta, resolves with the text.
 */
export type ChatStreamer = (
  baseUrl: string,
  body: string,
  onDelta?: (delta: string) => void,
) => Promise<string>;

/** The JSON body of a streamed request with a system and a user message. */
export function chatBody(request: { system: string; prompt: string }): string {
  return JSON.stringify({
    model: "m",
    stream: true,
    messages: [
      { role: "system", content: request.system },
      { role: "user", content: request.prompt },
    ],
  });
}

const HEADERS = { "content-type": "application/json", authorization: "Bearer x" };
const encoder = new TextEncoder();
const noDelta = () => {};

const viaFetch: ChatStreamer = async (baseUrl, body, onDelta) => {
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: HEADERS,
    body,
  });
  if (!response.ok || !response.body) throw new Error(`LLM server: ${response.status}`);
  const decoder = new TextDecoder();
  const parser = new ChatChunkParser(onDelta);
  for await (const chunk of response.body) parser.push(decoder.decode(chunk, { stream: true }));
  return parser.text;
};

const viaFetchLean: ChatStreamer = async (baseUrl, body, onDelta) => {
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: HEADERS,
    body,
  });
  if (!response.ok || !response.body) throw new Error(`LLM server: ${response.status}`);
  return await readChatStream(response.body, onDelta ?? noDelta, {
    signal: new AbortController().signal,
    toError: (error) => new Error(String(error)),
  });
};

const sdkClients = new Map<string, OpenAI>();

const viaSdk: ChatStreamer = async (baseUrl, body, onDelta) => {
  let client = sdkClients.get(baseUrl);
  if (!client) {
    // As the service builds it (src/llm_openai.ts).
    client = new OpenAI({
      apiKey: "x",
      baseURL: baseUrl,
      maxRetries: 0,
      fetch: (url: string | URL | Request, init?: RequestInit) => fetch(url, init),
    });
    sdkClients.set(baseUrl, client);
  }
  const { messages } = JSON.parse(body) as {
    messages: { role: "system" | "user"; content: string }[];
  };
  const signal = new AbortController().signal;
  const response = await client.chat.completions.create(
    { model: "m", messages, stream: true },
    { signal },
  ).asResponse();
  if (!response.body) throw new Error("LLM server: no body");
  return await readChatStream(response.body, onDelta ?? noDelta, {
    signal,
    toError: (error) => new Error(String(error)),
  });
};

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

const viaNodeHttp: ChatStreamer = (baseUrl, body, onDelta) => {
  const url = new URL(`${baseUrl}/chat/completions`);
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const request = http.request({
    hostname: url.hostname,
    port: url.port,
    path: url.pathname,
    method: "POST",
    agent,
    headers: { ...HEADERS, "content-length": Buffer.byteLength(body) },
  }, (response) => {
    if (response.statusCode !== 200) {
      response.resume();
      reject(new Error(`LLM server: ${response.statusCode}`));
      return;
    }
    const parser = new ChatChunkParser(onDelta);
    response.setEncoding("utf8");
    response.on("data", (text: string) => parser.push(text));
    response.on("end", () => resolve(parser.text));
    response.on("error", reject);
  });
  request.on("error", reject);
  request.end(body);
  return promise;
};

function requestBytes(url: URL, body: string): Uint8Array {
  const payload = encoder.encode(body);
  const head = encoder.encode(
    `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
      `authorization: Bearer x\r\ncontent-length: ${payload.length}\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

/** Keep-alive connections by `host:port`, each used by one request at a time. */
class ConnectionPool<C> {
  readonly #idle = new Map<string, C[]>();
  /** An idle connection to `host`, if any. */
  take(host: string): C | undefined {
    return this.#idle.get(host)?.pop();
  }
  /** Hands `conn` back for the next request to `host`. */
  give(host: string, conn: C): void {
    let list = this.#idle.get(host);
    if (!list) this.#idle.set(host, list = []);
    list.push(conn);
  }
}

const viaTcp: ChatStreamer = async (baseUrl, body, onDelta) => {
  const decoder = new TextDecoder();
  const parser = new ChatChunkParser(onDelta);
  const status = await tcpRequest(
    new URL(`${baseUrl}/chat/completions`),
    { method: "POST", json: body, headers: ["authorization: Bearer x"] },
    (piece) => parser.push(decoder.decode(piece, { stream: true })),
  );
  if (status !== 200) throw new Error(`LLM server: ${status}`);
  return parser.text;
};

const netPool = new ConnectionPool<net.Socket>();

function netAttempt(
  url: URL,
  bytes: Uint8Array,
  socket: net.Socket,
  onDelta: ((delta: string) => void) | undefined,
): Promise<string | undefined> {
  const { promise, resolve, reject } = Promise.withResolvers<string | undefined>();
  const decoder = new TextDecoder();
  const parser = new ChatChunkParser(onDelta);
  const response = new Http1Response((piece) => {
    parser.push(decoder.decode(piece, { stream: true }));
  });
  let got = 0;
  const cleanup = () => {
    socket.off("data", onData);
    socket.off("close", onClose);
    socket.off("error", onError);
  };
  const onData = (chunk: Buffer) => {
    got += chunk.length;
    try {
      if (!response.feed(chunk)) return;
    } catch (error) {
      cleanup();
      socket.destroy();
      reject(error);
      return;
    }
    cleanup();
    if (!response.reusable) socket.destroy();
    else netPool.give(url.host, socket);
    if (response.status !== 200) reject(new Error(`LLM server: ${response.status}`));
    else resolve(parser.text);
  };
  const onClose = () => {
    cleanup();
    if (got === 0) resolve(undefined);
    else reject(new Error("LLM server closed the connection mid-answer"));
  };
  const onError = (error: Error) => {
    cleanup();
    socket.destroy();
    if (got === 0) resolve(undefined);
    else reject(error);
  };
  socket.on("data", onData);
  socket.on("close", onClose);
  socket.on("error", onError);
  socket.write(bytes);
  return promise;
}

const viaNodeNet: ChatStreamer = async (baseUrl, body, onDelta) => {
  const url = new URL(`${baseUrl}/chat/completions`);
  const bytes = requestBytes(url, body);
  const pooled = netPool.take(url.host);
  if (pooled && !pooled.destroyed) {
    const text = await netAttempt(url, bytes, pooled, onDelta);
    if (text !== undefined) return text;
  }
  const socket = net.connect({ host: url.hostname, port: Number(url.port) });
  socket.setNoDelay(true);
  const text = await netAttempt(url, bytes, socket, onDelta);
  if (text === undefined) throw new Error("LLM server closed a new connection at once");
  return text;
};

/** Every transport by name. */
export const TRANSPORTS = {
  fetch: viaFetch,
  "fetch-lean": viaFetchLean,
  sdk: viaSdk,
  "node-http": viaNodeHttp,
  "node-net": viaNodeNet,
  tcp: viaTcp,
} as const satisfies Record<string, ChatStreamer>;

/** A transport's name. */
export type TransportName = keyof typeof TRANSPORTS;

/** Whether `name` is a transport's name. */
export function isTransportName(name: string): name is TransportName {
  return Object.hasOwn(TRANSPORTS, name);
}
