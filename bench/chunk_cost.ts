/**
 * CPU per streamed LLM chunk: the service end to end (chunk read → delta events → SSE frames to
 * one watcher) beside a minimal reader of the same streams over each transport of
 * `chat_transports.ts`, each in its own process, rounds alternating, in one run. Every instance
 * runs the same workflow calls against the same loopback LLM server; its CPU over the measured
 * pass (from `/proc`, whole process and main thread) is divided by the SSE events that server
 * sent meanwhile.
 *
 * Two pacings (`--modes`): `paced`, one word every 20 ms (~75 per call, like a model at 50
 * tokens/s), where nearly every chunk arrives alone; and `deadline`, each call's words spread
 * over 50 ms, where reads often return several chunks.
 *
 * `--compare DIR[,DIR]` runs other checkouts of the project (a parent commit's worktree) as
 * services too, `compare1`, …, in the same rounds; `--transports ""` leaves the readers out.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/chunk_cost.ts
 * [--modes paced,deadline] [--rounds 2] [--quick] [--compare DIR]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openaiFlags, protoRuntime, spawnLlmServer, spawnQuillflow } from "./bench_servers.ts";
import { TRANSPORTS } from "./chat_transports.ts";
import { chunksSent, type ReaderFigures } from "./chunk_reader.ts";
import { compareName, parseCompare } from "./compare_checkouts.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { runJob } from "./job_client.ts";
import { describeMachine, readCpuSeconds, readMainThreadCpuSeconds } from "./process_stats.ts";
import { PROTO_LLM_CLIENTS } from "./proto_llm_clients.ts";
import { runPool } from "./run_pool.ts";
import type { SpawnedServer } from "./spawned_server.ts";

const here = (file: string) => new URL(file, import.meta.url).pathname;

/** One instance's totals over its measured passes. */
export interface ChunkCostRow {
  name: string;
  /** `reader` for a minimal reader, `service` for Quillflow (or a prototype of it). */
  kind: "reader" | "service";
  jobs: number;
  errors: number;
  chunks: number;
  wallS: number;
  cpuS: number;
  mainCpuS: number;
  firstError?: string;
}

/** The figures of one pacing. */
export interface ChunkCostFigures {
  mode: "paced" | "deadline";
  rows: ChunkCostRow[];
}

interface ModeSettings {
  llm: { delayMs: number } | { wordMs: number; words: number };
  jobs: number;
  concurrency: number;
  warmup: number;
}

function settings(mode: "paced" | "deadline", quick: boolean): ModeSettings {
  return mode === "paced"
    ? {
      llm: { wordMs: 20, words: 75 },
      jobs: quick ? 30 : 100,
      concurrency: quick ? 30 : 100,
      warmup: 20,
    }
    : { llm: { delayMs: 50 }, jobs: quick ? 100 : 400, concurrency: 10, warmup: 50 };
}

async function readerPass(
  transport: string,
  llmUrl: string,
  s: ModeSettings,
): Promise<ReaderFigures> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-run",
      "--allow-read",
      here("chunk_reader.ts"),
      "--transport",
      transport,
      "--llm-url",
      llmUrl,
      "--jobs",
      String(s.jobs),
      "--concurrency",
      String(s.concurrency),
      "--warmup",
      String(s.warmup),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const line = new TextDecoder().decode(output.stdout).split("\n").find((l) =>
    l.startsWith("FIGURES ")
  );
  if (!output.success || !line) throw new Error(`chunk_reader.ts --transport ${transport} failed`);
  return JSON.parse(line.slice(8)) as ReaderFigures;
}

async function servicePass(
  server: SpawnedServer,
  llmUrl: string,
  s: ModeSettings,
  warm: boolean,
): Promise<Omit<ReaderFigures, "transport">> {
  const run = (i: number) => runJob(server.url, "native", `benchmark topic ${i % 50}`);
  if (!warm) await runPool(s.warmup, s.concurrency, run);
  const read = () =>
    Promise.all([
      readCpuSeconds(server.pid),
      readMainThreadCpuSeconds(server.pid),
      chunksSent(llmUrl),
    ]);
  const [cpu0, main0, chunks0] = await read();
  const started = performance.now();
  const results = await runPool(s.jobs, s.concurrency, run);
  const wallMs = performance.now() - started;
  const [cpu1, main1, chunks1] = await read();
  const errors = results.filter((r) => r instanceof Error);
  return {
    jobs: s.jobs,
    errors: errors.length,
    ...(errors[0] ? { firstError: errors[0].message } : {}),
    wallMs,
    cpuS: cpu1 - cpu0,
    mainCpuS: main1 - main0,
    chunks: chunks1 - chunks0,
  };
}

function add(row: ChunkCostRow, pass: Omit<ReaderFigures, "transport">): void {
  row.jobs += pass.jobs;
  row.errors += pass.errors;
  row.chunks += pass.chunks;
  row.wallS += pass.wallMs / 1000;
  row.cpuS += pass.cpuS;
  row.mainCpuS += pass.mainCpuS;
  if (pass.firstError && !row.firstError) row.firstError = pass.firstError;
}

/** Options of {@linkcode runChunkCost}. */
export interface ChunkCostOptions {
  modes: ("paced" | "deadline")[];
  rounds: number;
  quick: boolean;
  /** Transports to read with (all by default). */
  transports: string[];
  /** Prototype LLM clients of the service to run too (`bench/proto_quillflow.ts`). */
  protos: string[];
  /** Other checkouts of the project to run as services too (before/after figures). */
  compare: string[];
}

/** Runs every mode; returns the figures of each. */
export async function runChunkCost(options: ChunkCostOptions): Promise<ChunkCostFigures[]> {
  const out: ChunkCostFigures[] = [];
  for (const mode of options.modes) {
    const s = settings(mode, options.quick);
    console.log(`${mode}: machine at start: ${await describeMachine()}`);
    const started: SpawnedServer[] = [];
    try {
      const llm = await spawnLlmServer(s.llm);
      started.push(llm);
      const common = [
        ...openaiFlags(llm.url),
        "--max-concurrent-jobs",
        "1000",
        "--max-queued-jobs",
        "1000",
      ];
      const services: { row: ChunkCostRow; server: SpawnedServer; warm: boolean }[] = [];
      const service = async (name: string, proto?: string, checkout?: string) => {
        const server = await spawnQuillflow(
          [...common, ...(proto ? ["--proto-llm", proto] : [])],
          undefined,
          checkout,
          proto ? protoRuntime() : {},
        );
        started.push(server);
        services.push({
          row: {
            name,
            kind: "service",
            jobs: 0,
            errors: 0,
            chunks: 0,
            wallS: 0,
            cpuS: 0,
            mainCpuS: 0,
          },
          server,
          warm: false,
        });
      };
      await service("quillflow");
      for (const [i, checkout] of options.compare.entries()) {
        await service(compareName(i), undefined, checkout);
      }
      for (const proto of options.protos) {
        await service(`quillflow+${proto}`, proto);
      }
      const readers = options.transports.map((t): ChunkCostRow => ({
        name: `reader ${t}`,
        kind: "reader",
        jobs: 0,
        errors: 0,
        chunks: 0,
        wallS: 0,
        cpuS: 0,
        mainCpuS: 0,
      }));
      for (let round = 0; round < options.rounds; round++) {
        for (const [i, transport] of options.transports.entries()) {
          add(readers[i] as ChunkCostRow, await readerPass(transport, llm.url, s));
        }
        for (const entry of services) {
          add(entry.row, await servicePass(entry.server, llm.url, s, entry.warm));
          entry.warm = true;
        }
      }
      const rows = [...readers, ...services.map((e) => e.row)];
      out.push({ mode, rows });
      console.log(
        `${mode}: ${
          "wordMs" in s.llm
            ? `one word every ${s.llm.wordMs} ms, ${s.llm.words} words per call`
            : `each call ${s.llm.delayMs} ms`
        }; ${s.jobs} jobs × ${options.rounds} rounds at concurrency ${s.concurrency} per instance`,
      );
      console.log(chunkCostTable(rows));
    } finally {
      await Promise.all(started.map((server) => server.stop()));
    }
    console.log(`${mode}: machine at end: ${await describeMachine()}`);
  }
  return out;
}

/** The cheapest reader's row by process CPU per chunk. */
export function cheapestReader(rows: ChunkCostRow[]): ChunkCostRow | undefined {
  const per = (r: ChunkCostRow) => r.cpuS / r.chunks;
  return rows.filter((r) => r.kind === "reader" && r.chunks > 0 && r.errors === 0)
    .sort((a, b) => per(a) - per(b))[0];
}

/** The rows as a table with each one's ratio to the cheapest reader. */
export function chunkCostTable(rows: ChunkCostRow[]): string {
  const cheapest = cheapestReader(rows);
  const us = (s: number, chunks: number) => 1e6 * s / chunks;
  const table = formatTable(
    [
      "instance",
      "ok/jobs",
      "chunks",
      "wall s",
      "CPU s",
      "µs/chunk",
      "÷ cheapest",
      "main-thread µs/chunk",
      "÷ cheapest (main)",
    ],
    rows.map((r) => [
      r.name,
      `${r.jobs - r.errors}/${r.jobs}`,
      String(r.chunks),
      fixed(r.wallS),
      fixed(r.cpuS, 2),
      fixed(us(r.cpuS, r.chunks), 2),
      cheapest ? fixed((r.cpuS / r.chunks) / (cheapest.cpuS / cheapest.chunks), 2) : "-",
      fixed(us(r.mainCpuS, r.chunks), 2),
      cheapest ? fixed((r.mainCpuS / r.chunks) / (cheapest.mainCpuS / cheapest.chunks), 2) : "-",
    ]),
  );
  const errors = rows.filter((r) => r.firstError).map((r) =>
    `\n${r.name}: ${r.errors} errors, first: ${r.firstError}`
  );
  return table + errors.join("");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      modes: { type: "string", default: "paced,deadline" },
      rounds: { type: "string", default: "2" },
      transports: { type: "string", default: Object.keys(TRANSPORTS).join(",") },
      protos: { type: "string", default: "" },
      compare: { type: "string", default: "" },
      quick: { type: "boolean", default: false },
    },
  });
  const modes = values.modes.split(",").filter((m) => m !== "");
  for (const mode of modes) {
    if (mode !== "paced" && mode !== "deadline") throw new TypeError(`Unknown mode ${mode}`);
  }
  const protos = values.protos.split(",").filter((p) => p !== "");
  for (const proto of protos) {
    if (!Object.hasOwn(PROTO_LLM_CLIENTS, proto)) throw new TypeError(`Unknown proto ${proto}`);
  }
  const figures = await runChunkCost({
    modes: modes as ("paced" | "deadline")[],
    rounds: Math.max(1, Number(values.rounds)),
    quick: values.quick,
    transports: values.transports.split(",").filter((t) => t !== ""),
    protos,
    compare: parseCompare(values.compare),
  });
  console.log(`FIGURES ${JSON.stringify({ kind: "chunks", figures })}`);
}
