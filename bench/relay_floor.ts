/**
 * The relay floor: the least a server can do to run the article workflow against a real
 * (loopback) LLM and stream it to a watcher, in the native API's shape. `POST /api/jobs` with
 * `{"topic"}` answers 202 `{id}` and starts the job at once; `GET /api/jobs/{id}/events` replays
 * what the job sent so far and follows it, `id:`/`event:`/`data:` frames like the service's,
 * and ends after `complete` (or `error`). Per job: the outline call, the three sections at once,
 * then the style call, each streamed from the LLM server over `--transport` (the cheapest one
 * `bench/chunk_cost.ts` found, by default) with the same prompts as the service, the text
 * deltas gathered over `--flush-ms` by one shared timer like the service's. No store, no
 * limits, no retries, no validation beyond the outline's titles.
 *
 * Every figure of the LLM scenarios (`bench/load.ts --relay`, `bench/paced_lag.ts`) is a ratio
 * to this program measured in the same run.
 *
 * Run: `deno run --allow-net=127.0.0.1 bench/relay_floor.ts --port 0 --llm-url
 * http://127.0.0.1:PORT/v1 [--transport tcp] [--flush-ms 50]`
 *
 * @module
 */

import { outlinePrompt, sectionPrompt, stylePrompt } from "../src/workflow/prompts.ts";
import { chatBody, type ChatStreamer, isTransportName, TRANSPORTS } from "./chat_transports.ts";

const encoder = new TextEncoder();
const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
const TITLE = /^\s*- ("(?:[^"\\]|\\.)*")\s*$/gm;

interface PendingText {
  step: string;
  index: number | undefined;
  text: string;
}

interface RelayJob {
  id: string;
  topic: string;
  nextId: number;
  /** Frames sent before a watcher came. */
  backlog: string[];
  controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  ended: boolean;
  /** Text waiting for the flush timer, by step and section. */
  pending: Map<string, PendingText>;
}

/** Options of {@linkcode serveRelay}. */
export interface RelayOptions {
  port: number;
  /** The LLM server's base URL, ending in `/v1`. */
  llmUrl: string;
  stream: ChatStreamer;
  /** Text deltas are gathered this long into one event, in ms. */
  flushMs: number;
}

/** Serves the relay on 127.0.0.1; resolves with the server once it listens. */
export function serveRelay(options: RelayOptions): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const jobs = new Map<string, RelayJob>();
  const waiting = new Set<RelayJob>();
  let timer: ReturnType<typeof setTimeout> | undefined;

  const write = (job: RelayJob, frames: string) => {
    if (job.controller) job.controller.enqueue(encoder.encode(frames));
    else job.backlog.push(frames);
  };
  const frame = (job: RelayJob, type: string, data: unknown) =>
    `id: ${job.nextId++}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
  const flush = (job: RelayJob) => {
    waiting.delete(job);
    if (job.pending.size === 0) return;
    let frames = "";
    for (const { step, index, text } of job.pending.values()) {
      frames += frame(job, "delta", index === undefined ? { step, text } : { step, index, text });
    }
    job.pending.clear();
    write(job, frames);
  };
  const flushAll = () => {
    timer = undefined;
    for (const job of [...waiting]) flush(job);
  };
  const delta = (job: RelayJob, step: string, index: number | undefined, text: string) => {
    const key = index === undefined ? step : `${step}:${index}`;
    const buffer = job.pending.get(key);
    if (buffer) buffer.text += text;
    else job.pending.set(key, { step, index, text });
    waiting.add(job);
    timer ??= setTimeout(flushAll, options.flushMs);
  };
  const emit = (job: RelayJob, type: string, data: unknown) => {
    flush(job);
    write(job, frame(job, type, data));
  };
  const end = (job: RelayJob) => {
    job.ended = true;
    if (job.controller) {
      job.controller.close();
      jobs.delete(job.id);
    }
  };

  const run = async (job: RelayJob) => {
    const { topic } = job;
    const call = (request: { system: string; prompt: string }, step: string, index?: number) =>
      options.stream(options.llmUrl, chatBody(request), (d) => delta(job, step, index, d));
    try {
      emit(job, "status", { status: "running", progress: 0 });
      const outline = await call(outlinePrompt(topic, 3), "outline");
      const sections = [...outline.matchAll(TITLE)].map((m) => JSON.parse(m[1] as string));
      if (sections.length === 0) throw new Error("The outline has no sections");
      emit(job, "progress", { step: "outline", progress: 33, sections });
      let completed = 0;
      const texts = await Promise.all(sections.map(async (section, index) => {
        const text = await call(sectionPrompt(topic, section), "content", index);
        completed++;
        emit(job, "progress", {
          step: "content",
          progress: 33 + Math.round(33 * completed / sections.length),
          section,
          index,
          completed,
          total: sections.length,
        });
        return `## ${section}\n\n${text}`;
      }));
      emit(job, "progress", { step: "style", progress: 66, stage: "started" });
      const article = await call(stylePrompt(topic, texts.join("\n\n")), "style");
      emit(job, "progress", { step: "style", progress: 99, stage: "finished" });
      emit(job, "complete", { progress: 100, article, sections });
    } catch (error) {
      emit(job, "error", { message: String(error) });
    }
    end(job);
  };

  const events = (id: string): Response => {
    const job = jobs.get(id);
    if (!job || job.controller) return new Response("Job not found", { status: 404 });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(`retry: 1000\n\n${job.backlog.join("")}`));
        job.backlog = [];
        if (job.ended) {
          controller.close();
          jobs.delete(id);
        } else job.controller = controller;
      },
      cancel() {
        job.controller = undefined;
        jobs.delete(id);
      },
    });
    return new Response(body, { headers: SSE_HEADERS });
  };

  const handler = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    if (request.method === "POST" && path === "/api/jobs") {
      const { topic } = await request.json() as { topic: string };
      const job: RelayJob = {
        id: crypto.randomUUID(),
        topic,
        nextId: 1,
        backlog: [],
        controller: undefined,
        ended: false,
        pending: new Map(),
      };
      jobs.set(job.id, job);
      write(job, frame(job, "status", { status: "queued", progress: 0 }));
      run(job);
      return Response.json({ id: job.id, topic, status: "queued", progress: 0, lastEventId: 1 }, {
        status: 202,
      });
    }
    if (request.method === "GET" && path.startsWith("/api/jobs/") && path.endsWith("/events")) {
      return events(path.slice(10, -7));
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
  const transport = flag("--transport") ?? "tcp";
  const llmUrl = flag("--llm-url");
  if (!isTransportName(transport)) {
    throw new TypeError(`Unknown --transport ${transport}: one of ${Object.keys(TRANSPORTS)}`);
  }
  if (!llmUrl) throw new TypeError("--llm-url is required, such as http://127.0.0.1:8080/v1");
  const server = await serveRelay({
    port: Number(flag("--port") ?? 0),
    llmUrl,
    stream: TRANSPORTS[transport],
    flushMs: Number(flag("--flush-ms") ?? 50),
  });
  console.log(`Relay floor is running at http://127.0.0.1:${server.addr.port} (${transport})`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
