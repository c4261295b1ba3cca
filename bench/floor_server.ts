/**
 * The floor: the least a server can do to answer Quillflow's routes. `Deno.serve` and a switch on
 * the path; a job is a topic in a map, and its event stream is the same events the service sends
 * (same types, same sizes), framed and written at once. No workflow, no store, no framework.
 * Every benchmark figure is a ratio to this program measured in the same run.
 *
 * With `--hold`, event streams send their first event and stay open (heartbeat comments every
 * `--heartbeat-ms`) until `POST /floor/release/{id}?gapMs=N` writes the rest of that job's events
 * to every stream of it, `gapMs` apart: the floor for idle streams and fan-out.
 *
 * With `--compat-hold`, a `/progress/{id}` stream is written whole and then left open until the
 * client goes, as the service holds it (`COMPAT_HOLD_MS`, for the original page): a client then
 * pays a connection per job on both, not only on the service.
 *
 * Run: `deno run --allow-net=127.0.0.1 bench/floor_server.ts --port 0 [--hold] [--compat-hold]
 * [--heartbeat-ms 15000]`
 *
 * @module
 */

const encoder = new TextEncoder();

/** One event of a job, as the service logs it. */
export interface FloorEvent {
  /** Position in the log, from 1. */
  id: number;
  /** The service's event type. */
  type: string;
  /** The JSON payload. */
  data: Record<string, unknown>;
}

function sectionText(topic: string, section: string): string {
  return `Put simply, "${section}" is about seeing ${topic} clearly, without jargon. ` +
    `Most people meet ${topic} through everyday situations long before they learn its name, ` +
    "and that is a good place to begin: notice what already works, ask why it works, " +
    "and change one thing at a time. For example, a beginner can start with a single, " +
    "concrete task and build from there. The point is not to master everything at once but " +
    `to build a habit of small, useful steps. Once that habit is in place, the rest of ${topic} ` +
    "becomes much easier to explore, because each new idea has something familiar to attach to.";
}

/**
 * The events the service logs for a job on `topic` with the offline writer: two statuses, the
 * outline, three sections, styling, and the article, with their text deltas.
 *
 * @example
 * ```ts
 * import { floorEvents } from "./floor_server.ts";
 * import assert from "node:assert/strict";
 *
 * const events = floorEvents("tea");
 * assert.equal(events.length, 15);
 * assert.equal(events.at(-1)?.type, "complete");
 * ```
 */
export function floorEvents(topic: string): FloorEvent[] {
  const sections = [`What ${topic} is`, `Why ${topic} matters`, `Getting started with ${topic}`];
  const texts = sections.map((s) => sectionText(topic, s));
  const article = `# ${topic}: a friendly guide\n\nEver wondered what all the fuss about ${topic}` +
    " is? You're not alone, so let's walk through it together.\n\n" +
    sections.map((s, i) => `## ${s}\n\n${texts[i]}`).join("\n\n") +
    `\n\n## Wrapping up\n\nThat's the tour. Start small, stay curious, and ${topic} will start` +
    " to feel like an old friend.\n\n_Written by Quillflow's offline demo writer._";
  const outline = "```yaml\nsections:\n" + sections.map((s) => `  - "${s}"`).join("\n") + "\n```";
  const data: [string, Record<string, unknown>][] = [
    ["status", { status: "queued", progress: 0 }],
    ["status", { status: "running", progress: 0 }],
    ["delta", { step: "outline", text: outline }],
    ["progress", { step: "outline", progress: 33, sections }],
    ...texts.map((text, index): [string, Record<string, unknown>] => [
      "delta",
      { step: "content", index, text },
    ]),
    ...sections.map((section, index): [string, Record<string, unknown>] => [
      "progress",
      {
        step: "content",
        progress: 44 + 11 * index,
        section,
        index,
        completed: index + 1,
        total: 3,
      },
    ]),
    ["progress", { step: "style", progress: 66, stage: "started" }],
    ["delta", { step: "style", text: article.slice(0, -60) }],
    ["delta", { step: "style", text: article.slice(-60) }],
    ["progress", { step: "style", progress: 99, stage: "finished" }],
    ["complete", { progress: 100, article, sections }],
  ];
  return data.map(([type, payload], i) => ({ id: i + 1, type, data: payload }));
}

/** Native framing: `id:`, `event:`, one `data:` line (JSON has no raw line breaks). */
function frameNative(event: FloorEvent): string {
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/** The original example's data-only message for an event, or `null` where it sent none. */
function frameCompat(event: FloorEvent): string | null {
  const d = event.data;
  let message: unknown = null;
  if (event.type === "progress" && d.step === "outline") {
    message = { step: "outline", progress: 33, data: { sections: d.sections } };
  } else if (event.type === "progress" && d.step === "content") {
    message = {
      step: "content",
      progress: d.progress,
      data: { section: d.section, completed_sections: d.completed, total_sections: d.total },
    };
  } else if (event.type === "progress" && d.stage === "started") {
    message = { step: "style", progress: 66, data: {} };
  } else if (event.type === "complete") {
    message = { step: "complete", progress: 100, data: { final_article: d.article } };
  }
  return message === null ? null : `data: ${JSON.stringify(message)}\n\n`;
}

const CONNECTED =
  'data: {"step":"connected","progress":0,"data":{"message":"Connected to job progress"}}\n\n';
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
const PING = encoder.encode(": ping\n\n");

interface HeldStream {
  controller: ReadableStreamDefaultController<Uint8Array>;
  compat: boolean;
}

/** Options of {@linkcode serveFloor}. */
export interface FloorOptions {
  /** Port; 0 picks a free one. */
  port: number;
  /** Hold event streams open after their first event until released. */
  hold: boolean;
  /** Heartbeat interval of held streams, in ms. */
  heartbeatMs: number;
  /** Leave each compatibility stream open once written, until the client goes. */
  compatHold?: boolean;
}

/** Serves the floor on 127.0.0.1; resolves with the server once it listens. */
export function serveFloor(options: FloorOptions): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const topics = new Map<string, string>();
  const held = new Map<string, Set<HeldStream>>();
  if (options.hold) {
    const timer = setInterval(() => {
      for (const streams of held.values()) {
        for (const s of streams) s.controller.enqueue(PING);
      }
    }, options.heartbeatMs);
    Deno.unrefTimer(timer);
  }

  const stream = (id: string, compat: boolean): Response => {
    const topic = topics.get(id);
    if (topic === undefined) return new Response("Job not found", { status: 404 });
    const events = floorEvents(topic);
    if (!options.hold) {
      topics.delete(id);
      let body = compat ? CONNECTED : "retry: 1000\n\n";
      for (const event of events) body += (compat ? frameCompat(event) : frameNative(event)) ?? "";
      if (compat && options.compatHold) {
        const bytes = encoder.encode(body);
        return new Response(new ReadableStream({ start: (c) => c.enqueue(bytes) }), {
          headers: SSE_HEADERS,
        });
      }
      return new Response(body, { headers: SSE_HEADERS });
    }
    let entry: HeldStream | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        entry = { controller, compat };
        const first = events[0] as FloorEvent;
        controller.enqueue(
          encoder.encode(compat ? CONNECTED : `retry: 1000\n\n${frameNative(first)}`),
        );
        let streams = held.get(id);
        if (!streams) held.set(id, streams = new Set());
        streams.add(entry);
      },
      cancel() {
        if (entry) held.get(id)?.delete(entry);
      },
    });
    return new Response(body, { headers: SSE_HEADERS });
  };

  const release = async (id: string, gapMs: number): Promise<void> => {
    const events = floorEvents(topics.get(id) ?? "");
    for (const event of events.slice(1)) {
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      const native = encoder.encode(frameNative(event));
      const compatText = frameCompat(event);
      const compat = compatText === null ? null : encoder.encode(compatText);
      for (const s of held.get(id) ?? []) {
        const bytes = s.compat ? compat : native;
        if (bytes) s.controller.enqueue(bytes);
      }
    }
    for (const s of held.get(id) ?? []) s.controller.close();
    held.delete(id);
    topics.delete(id);
  };

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const path = url.pathname;
    if (request.method === "POST" && path === "/api/jobs") {
      const { topic } = await request.json() as { topic: string };
      const id = crypto.randomUUID();
      topics.set(id, topic);
      return Response.json({ id, topic, status: "queued", progress: 0, lastEventId: 1 }, {
        status: 202,
      });
    }
    if (request.method === "POST" && path === "/start-job") {
      const topic = String((await request.formData()).get("topic") ?? "");
      const id = crypto.randomUUID();
      topics.set(id, topic);
      return Response.json({ job_id: id, topic, status: "started" });
    }
    if (request.method === "GET" && path.startsWith("/api/jobs/") && path.endsWith("/events")) {
      return stream(path.slice(10, -7), false);
    }
    if (request.method === "GET" && path.startsWith("/progress/")) {
      return stream(path.slice(10), true);
    }
    if (request.method === "POST" && path.startsWith("/floor/release/")) {
      release(path.slice(15), Number(url.searchParams.get("gapMs") ?? 0)).catch(() => {});
      return new Response(null, { status: 202 });
    }
    return new Response("Not found", { status: 404 });
  };

  const { promise, resolve } = Promise.withResolvers<void>();
  const server = Deno.serve({
    port: options.port,
    hostname: "127.0.0.1",
    onListen: () => resolve(),
  }, handler);
  return promise.then(() => server);
}

function flag(name: string): string | undefined {
  const at = Deno.args.indexOf(name);
  return at === -1 ? undefined : Deno.args[at + 1];
}

if (import.meta.main) {
  const server = await serveFloor({
    port: Number(flag("--port") ?? 0),
    hold: Deno.args.includes("--hold"),
    compatHold: Deno.args.includes("--compat-hold"),
    heartbeatMs: Number(flag("--heartbeat-ms") ?? 15_000),
  });
  console.log(`Floor is running at http://127.0.0.1:${server.addr.port}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
