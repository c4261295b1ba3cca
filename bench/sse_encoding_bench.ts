/**
 * `deno bench` for SSE framing, the work done per event per stream: `encodeSse` on small,
 * article-sized and multi-line payloads, and `encodeNative` for a new event (framed and cached)
 * and for one already framed (what every watcher after the first costs).
 *
 * Run: `deno bench bench/sse_encoding_bench.ts`
 *
 * @module
 */

import { encodeSse } from "../src/http/sse_encoder.ts";
import { encodeCompat, encodeNative } from "../src/http/event_stream_response.ts";
import type { JobEvent } from "../src/core/job.ts";

const small = JSON.stringify({ step: "content", progress: 44, section: "Why tea matters" });
const article = JSON.stringify({ progress: 100, article: "Tea is a drink. ".repeat(160) });
const multiline = "line one\nline two\r\nline three\rline four\n".repeat(20);

Deno.bench("encodeSse: small progress event", { group: "encodeSse", baseline: true }, () => {
  encodeSse({ id: 8, event: "progress", data: small });
});

Deno.bench("encodeSse: 2.6 KB article event", { group: "encodeSse" }, () => {
  encodeSse({ id: 15, event: "complete", data: article });
});

Deno.bench("encodeSse: 80-line data", { group: "encodeSse" }, () => {
  encodeSse({ data: multiline });
});

const progress = { step: "content", progress: 44, section: "Why tea matters", index: 1 };

Deno.bench("encodeNative: new event (frame + cache)", { group: "encodeNative" }, () => {
  const event: JobEvent = { id: 8, type: "progress", data: progress };
  encodeNative(event);
});

const framed: JobEvent = { id: 8, type: "progress", data: progress };
encodeNative(framed);

Deno.bench("encodeNative: event already framed", { group: "encodeNative", baseline: true }, () => {
  encodeNative(framed);
});

Deno.bench("encodeCompat: new complete event", { group: "encodeNative" }, () => {
  const event: JobEvent = {
    id: 15,
    type: "complete",
    data: { progress: 100, article: "Tea is a drink. ".repeat(160) },
  };
  encodeCompat(event);
});
