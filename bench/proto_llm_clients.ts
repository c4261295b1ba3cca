/**
 * Prototype LLM clients for the service, to measure what reading LLM bodies another way would
 * save before `src/` changes (`bench/proto_quillflow.ts` runs the service with one):
 *
 * - `tcp`, `node-http`: the body read on the main thread over a cheaper transport of
 *   `chat_transports.ts` instead of `fetch` through the `openai` SDK.
 * - `worker-tcp`, `worker-fetch`: the requests made and the bodies read in one Worker, which
 *   posts the deltas of every call to the main thread in one message every 10 ms
 *   (`worker-tcp-each` posts each chunk as it comes).
 *
 * Not production clients: no retries, no timeouts, and an abort only stops waiting (the call
 * runs to its end). Each is a faithful cost model of the part it replaces: the request, the
 * body read and the deltas handed to the workflow.
 *
 * @module
 */

import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";
import { chatBody, type ChatStreamer, type TransportName, TRANSPORTS } from "./chat_transports.ts";

/** Reads each answer on the main thread over a transport of `chat_transports.ts`. */
export class TransportLlmClient implements LlmClient {
  readonly provider = "openai";
  readonly model = "m";
  readonly #baseUrl: string;
  readonly #stream: ChatStreamer;

  /** Creates a client of the server at `baseUrl` (ending in `/v1`). */
  constructor(baseUrl: string, stream: ChatStreamer) {
    this.#baseUrl = baseUrl;
    this.#stream = stream;
  }

  complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    const call = this.#stream(this.#baseUrl, chatBody(request), options.onDelta);
    const signal = options.signal;
    if (!signal) return call;
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const stop = () => reject(signal.reason);
      signal.addEventListener("abort", stop, { once: true });
      call.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
    });
  }
}

/** A message from the worker: deltas, then calls that ended, by call id. */
export interface WorkerReport {
  deltas: [number, string][];
  done: [number, string][];
  failed: [number, string][];
}

/** A message to the worker. */
export type WorkerOrder =
  | { type: "init"; baseUrl: string; transport: TransportName; flushMs: number }
  | { type: "call"; id: number; body: string };

interface PendingCall {
  onDelta: ((text: string) => void) | undefined;
  resolve: (text: string) => void;
  reject: (error: Error) => void;
}

/** Makes the requests and reads the bodies in a Worker; the main thread gets batched deltas. */
export class WorkerLlmClient implements LlmClient {
  readonly provider = "openai";
  readonly model = "m";
  readonly #worker: Worker;
  readonly #calls = new Map<number, PendingCall>();
  #next = 0;

  /** Starts the worker; it reads over `transport` and reports every `flushMs` (0: each chunk). */
  constructor(baseUrl: string, transport: TransportName, flushMs: number) {
    this.#worker = new Worker(new URL("./proto_llm_worker.ts", import.meta.url), {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<WorkerReport>) => {
      const { deltas, done, failed } = event.data;
      for (const [id, text] of deltas) this.#calls.get(id)?.onDelta?.(text);
      for (const [id, text] of done) {
        this.#calls.get(id)?.resolve(text);
        this.#calls.delete(id);
      }
      for (const [id, message] of failed) {
        this.#calls.get(id)?.reject(new Error(message));
        this.#calls.delete(id);
      }
    };
    const init: WorkerOrder = { type: "init", baseUrl, transport, flushMs };
    this.#worker.postMessage(init);
  }

  complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    const { signal, onDelta } = options;
    signal?.throwIfAborted();
    const id = ++this.#next;
    const { promise, resolve, reject } = Promise.withResolvers<string>();
    this.#calls.set(id, { onDelta, resolve, reject });
    signal?.addEventListener("abort", () => {
      // The worker's call runs on; its later reports find no one.
      if (this.#calls.delete(id)) reject(signal.reason);
    }, { once: true });
    const order: WorkerOrder = { type: "call", id, body: chatBody(request) };
    this.#worker.postMessage(order);
    return promise;
  }
}

/** The prototypes by name, each built for the LLM server at `baseUrl`. */
export const PROTO_LLM_CLIENTS: Record<string, (baseUrl: string) => LlmClient> = {
  tcp: (baseUrl) => new TransportLlmClient(baseUrl, TRANSPORTS.tcp),
  "node-http": (baseUrl) => new TransportLlmClient(baseUrl, TRANSPORTS["node-http"]),
  "worker-tcp": (baseUrl) => new WorkerLlmClient(baseUrl, "tcp", 10),
  "worker-fetch": (baseUrl) => new WorkerLlmClient(baseUrl, "fetch", 10),
  "worker-tcp-each": (baseUrl) => new WorkerLlmClient(baseUrl, "tcp", 0),
};
