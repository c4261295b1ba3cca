/**
 * The worker of `proto_llm_clients.ts`'s `WorkerLlmClient`: makes each call it is sent over its
 * transport and reports the deltas, the finished and the failed calls in one message every
 * `flushMs` (or at once when it is 0).
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { type ChatStreamer, TRANSPORTS } from "./chat_transports.ts";
import type { WorkerOrder, WorkerReport } from "./proto_llm_clients.ts";

let baseUrl = "";
let stream: ChatStreamer = TRANSPORTS.fetch;
let flushMs = 10;
let report: WorkerReport = { deltas: [], done: [], failed: [] };
let timer: ReturnType<typeof setTimeout> | undefined;

function send(): void {
  timer = undefined;
  const out = report;
  report = { deltas: [], done: [], failed: [] };
  self.postMessage(out);
}

function soon(): void {
  if (flushMs <= 0) send();
  else timer ??= setTimeout(send, flushMs);
}

self.onmessage = (event: MessageEvent<WorkerOrder>) => {
  const order = event.data;
  if (order.type === "init") {
    baseUrl = order.baseUrl;
    stream = TRANSPORTS[order.transport];
    flushMs = order.flushMs;
    return;
  }
  const { id } = order;
  stream(baseUrl, order.body, (text) => {
    report.deltas.push([id, text]);
    soon();
  }).then(
    (text) => report.done.push([id, text]),
    (error) => report.failed.push([id, String(error)]),
  ).finally(soon);
};
