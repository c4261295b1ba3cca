/**
 * A minimal reader of streamed chat completions, as its own process so its CPU is its own: runs
 * the workflow's critical path (`llm_critical_path.ts`: outline, three sections at once, style)
 * for `--jobs` topics, `--concurrency` at a time, over one transport of `chat_transports.ts`,
 * after an unmeasured warm-up. Prints one `FIGURES {json}` line: its CPU (whole process and main
 * thread) over the measured pass and the chunks the LLM server sent meanwhile
 * (`GET /v1/stats`). `bench/chunk_cost.ts` runs one per transport beside the service.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/chunk_reader.ts
 * --transport tcp --llm-url http://127.0.0.1:PORT/v1 --jobs 100 --concurrency 100`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { isTransportName, TRANSPORTS } from "./chat_transports.ts";
import { runCriticalPath } from "./llm_critical_path.ts";
import { readCpuSeconds, readMainThreadCpuSeconds } from "./process_stats.ts";
import { runPool } from "./run_pool.ts";

/** What one reader process measured. */
export interface ReaderFigures {
  transport: string;
  jobs: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  cpuS: number;
  mainCpuS: number;
  /** SSE events the LLM server sent during the measured pass. */
  chunks: number;
}

/** Chunks the LLM server at `llmUrl` has sent so far. */
export async function chunksSent(llmUrl: string): Promise<number> {
  const response = await fetch(`${llmUrl}/stats`);
  return ((await response.json()) as { chunks: number }).chunks;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      transport: { type: "string", default: "fetch" },
      "llm-url": { type: "string" },
      jobs: { type: "string", default: "100" },
      concurrency: { type: "string", default: "100" },
      warmup: { type: "string", default: "20" },
    },
  });
  const transport = values.transport;
  const llmUrl = values["llm-url"];
  if (!isTransportName(transport)) throw new TypeError(`Unknown --transport ${transport}`);
  if (!llmUrl) throw new TypeError("--llm-url is required");
  const stream = TRANSPORTS[transport];
  const concurrency = Number(values.concurrency);
  const jobs = Number(values.jobs);
  const run = (i: number) => runCriticalPath(llmUrl, `benchmark topic ${i % 50}`, stream);
  await runPool(Number(values.warmup), concurrency, run);
  const [cpu0, main0, chunks0] = await Promise.all([
    readCpuSeconds("self"),
    readMainThreadCpuSeconds("self"),
    chunksSent(llmUrl),
  ]);
  const started = performance.now();
  const results = await runPool(jobs, concurrency, run);
  const wallMs = performance.now() - started;
  const [cpu1, main1, chunks1] = await Promise.all([
    readCpuSeconds("self"),
    readMainThreadCpuSeconds("self"),
    chunksSent(llmUrl),
  ]);
  const errors = results.filter((r) => r instanceof Error);
  const figures: ReaderFigures = {
    transport,
    jobs,
    errors: errors.length,
    ...(errors[0] ? { firstError: errors[0].message } : {}),
    wallMs,
    cpuS: cpu1 - cpu0,
    mainCpuS: main1 - main0,
    chunks: chunks1 - chunks0,
  };
  console.log(`FIGURES ${JSON.stringify(figures)}`);
  Deno.exit(0);
}
