/**
 * Sends a streamed chat-completion request over `node:http` (or `node:https`) and feeds each
 * `data` event's bytes straight into a {@linkcode ChatEventParser}.
 *
 * Why not `fetch`: its body is a web stream, and every chunk of every answer then costs a
 * promise, a read request and a result object. At 200 paced jobs that machinery was 36% of the
 * service's busy time (issue 17); a minimal client read 200,000 chunks in 1.7 s of CPU with
 * `fetch` against 0.68 s with `node:http` (BENCHMARKS.md, "Issue 17").
 *
 * @module
 */

import http from "node:http";
import https from "node:https";
import { Buffer } from "node:buffer";
import { StreamCutError } from "./chat_completion_reader.ts";
import { type ChatEventHandlers, ChatEventParser } from "./chat_event_parser.ts";

/** One streamed request, as the SDK built it. */
export interface NodeChatRequest {
  /** The endpoint, `http:` or `https:`. */
  url: string;
  /** Request headers (auth, content type, the SDK's own), lower-case names. */
  headers: Readonly<Record<string, string>>;
  /** The JSON request body. */
  body: string;
  /** Ends the request, the connection with it, at once. */
  signal: AbortSignal;
}

/** How {@linkcode streamChatOverNode} turns failures into the provider's errors. */
export interface NodeChatErrors {
  /** The error for an answer whose status is not 2xx; `text` is its body. */
  status(status: number, text: string, headers: Headers): Error;
  /** The error for an `error` event or a chunk carrying `error`; `headers` are the answer's. */
  stream(payload: unknown, headers: Headers): Error;
  /** The error for a request that got no answer (refused, reset before the headers). */
  connection(cause: Error): Error;
}

// Keep-alive, as `fetch` does: a job makes five calls, and each would otherwise pay a connect.
const agents = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

/** How long a body may stay open after its `[DONE]` before the connection is hung up on. */
const DONE_GRACE_MS = 1_000;

function headersOf(message: http.IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

/**
 * Makes `request` and resolves with the answer's text once the stream said `[DONE]` or the body
 * ended; `handlers` get each delta and the usage as they arrive. Rejects with `signal.reason`
 * once it is aborted and the request is torn down (never sent again), `errors.status(...)` for
 * a non-2xx answer, `errors.connection(...)` when no answer came, `errors.stream(...)` for an
 * error the stream carried, {@linkcode StreamCutError} when the body broke off, and whatever the
 * parser throws (an error event, a bad chunk, a line too long), each time with the connection closed.
 */
export function streamChatOverNode(
  request: NodeChatRequest,
  handlers: Omit<ChatEventHandlers, "toError">,
  errors: NodeChatErrors,
): Promise<string> {
  const { signal } = request;
  if (signal.aborted) return Promise.reject(signal.reason);
  const url = new URL(request.url);
  const agent = url.protocol === "https:" ? agents["https:"] : agents["http:"];
  const send = url.protocol === "https:" ? https.request : http.request;
  const body = Buffer.from(request.body);
  const headers = { ...request.headers, "content-length": String(body.length) };
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let answered = new Headers();
  const parser = new ChatEventParser({
    ...handlers,
    toError: (payload) => errors.stream(payload, answered),
  });
  let settled = false;
  // Set once aborted: only the request's `close` settles the promise then.
  let stopping = false;
  const finish = (error: unknown, answer?: string) => {
    if (settled) return;
    settled = true;
    signal.removeEventListener("abort", onAbort);
    if (error === undefined) resolve(answer ?? "");
    else reject(error);
  };
  const settle = (error: unknown, answer?: string) => {
    if (!stopping) finish(error, answer);
  };
  const onAbort = () => {
    if (settled) return;
    stopping = true;
    // Deno's ClientRequest sends a request again, on a new socket, when the reused keep-alive
    // socket it went out on closes before an answer: meant for a server that dropped an idle
    // connection, it also re-sent an aborted request after its caller had stopped counting
    // (the server saw a request nobody counted, its tokens paid for nothing). Not one to retry;
    // and should a socket come anyway, it goes the same way.
    outgoing.reusedSocket = false;
    outgoing.on("socket", () => outgoing.destroy());
    // Settled once the request is torn down, so nothing of it is still on its way.
    outgoing.once("close", () => finish(signal.reason));
    outgoing.destroy();
  };
  let responded = false;
  const cut = (error: Error) => {
    // Said as Deno's `fetch` says it, with node's own words after: a user's logs and the
    // failure reason (llm_failure.ts) read the same whichever transport ran.
    const cause = new Error(`error reading a body from connection: ${error.message}`, {
      cause: error,
    });
    settle(new StreamCutError(parser.answer.length, { cause }));
  };
  const outgoing = send(url, { method: "POST", agent, headers }, (response) => {
    responded = true;
    answered = headersOf(response);
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const pieces: Buffer[] = [];
      response.on("data", (piece: Buffer) => pieces.push(piece));
      response.on("end", () => {
        const text = Buffer.concat(pieces).toString("utf8");
        settle(errors.status(status, text, answered));
      });
      response.on("error", () => settle(errors.status(status, "", answered)));
      return;
    }
    let doneAt: ReturnType<typeof setTimeout> | undefined;
    response.on("data", (bytes: Buffer) => {
      if (settled || stopping) {
        // What follows `[DONE]` is at most the body's end; a server that sends more is hung
        // up on. (The end itself comes as its own read nearly always: hanging up at `[DONE]`
        // cost every call a new connection and the socket's teardown.)
        if (doneAt !== undefined && bytes.length > 0) response.destroy();
        return;
      }
      let done: boolean;
      try {
        done = parser.push(bytes);
      } catch (error) {
        settle(error);
        response.destroy();
        return;
      }
      if (!done) return;
      settle(undefined, parser.answer);
      if (response.complete) return;
      // The body's end frees the keep-alive socket for the next call; one that does not come
      // soon is not waited for.
      doneAt = setTimeout(() => response.destroy(), DONE_GRACE_MS);
      Deno.unrefTimer(doneAt);
      response.once("close", () => clearTimeout(doneAt));
    });
    response.on("end", () => {
      if (settled || stopping) return;
      try {
        parser.end();
      } catch (error) {
        settle(error);
        return;
      }
      settle(undefined, parser.answer);
    });
    response.on("error", cut);
  });
  outgoing.on("error", (error) => {
    if (stopping) return;
    if (signal.aborted) settle(signal.reason);
    else if (responded) cut(error);
    else settle(errors.connection(error));
  });
  signal.addEventListener("abort", onAbort, { once: true });
  outgoing.end(body);
  return promise;
}
