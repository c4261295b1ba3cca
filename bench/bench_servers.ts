/**
 * Starts the programs a benchmark measures: Quillflow itself (`main.ts`), the floor
 * (`bench/floor_server.ts`) and the loopback LLM server (`bench/llm_server.ts`), each as its own
 * process so its CPU and memory can be read apart.
 *
 * @module
 */

import type { LlmServerOptions } from "./llm_server.ts";
import { type SpawnedServer, spawnServer } from "./spawned_server.ts";

const root = new URL("../", import.meta.url);
const path = (file: string) => new URL(file, root).pathname;

/** How to run Quillflow's program, beyond its own flags. */
export interface QuillflowRuntime {
  /** Flags for `deno run` itself, such as `--cpu-prof`. */
  denoFlags?: string[];
  /**
   * The program instead of `main.ts`, relative to this checkout: a benchmark wrapper that takes
   * the same flags (`bench/stall_probe.ts`, `bench/proto_quillflow.ts`).
   */
  entry?: string;
  /** Receives each line the program prints after its URL. */
  onLine?: (line: string) => void;
}

/**
 * The flags that point Quillflow at the benchmark's LLM server at `url` (`llm_server.ts`) through
 * the `openai` provider.
 */
export function openaiFlags(url: string): string[] {
  return [
    "--llm-provider",
    "openai",
    "--openai-base-url",
    url,
    "--openai-api-key",
    "x",
    "--llm-model",
    "m",
  ];
}

/**
 * Starts Quillflow with `flags` after `--port 0 --log-level warn`; `checkout` is another copy of
 * the project to run instead (for before/after figures in one run).
 */
export function spawnQuillflow(
  flags: string[],
  openFiles?: number,
  checkout?: string,
  runtime: QuillflowRuntime = {},
): Promise<SpawnedServer> {
  // Only the durable store touches the file system.
  const durable = flags.includes("sqlite");
  const entry = runtime.entry ?? "main.ts";
  // `--allow-all` (the stall probe's) cannot stand beside the single grants.
  const all = runtime.denoFlags?.includes("--allow-all") ?? false;
  return spawnServer({
    args: [
      "run",
      ...(all ? [] : ["--allow-net", "--allow-env"]),
      ...(durable && !all ? ["--allow-read", "--allow-write"] : []),
      // A narrower read grant (the prototypes') would replace the durable store's whole one.
      ...(runtime.denoFlags ?? []).filter((flag) => !(durable && flag.startsWith("--allow-read="))),
      checkout === undefined ? path(entry) : `${checkout.replace(/\/$/, "")}/${entry}`,
      "--port",
      "0",
      "--log-level",
      "warn",
      // The command's default store is sqlite; the kit measures the in-memory service unless a
      // scenario asks for the durable one (`bench/load.ts --store sqlite`): later flags win.
      "--store",
      "memory",
      ...flags,
    ],
    ...(openFiles === undefined ? {} : { openFiles }),
    ...(runtime.onLine ? { onLine: runtime.onLine } : {}),
  });
}

/**
 * The runtime of `bench/proto_quillflow.ts`: its worker prototypes load the worker's modules
 * (from `bench/`, `src/` and `node_modules/`), which needs read access to this checkout.
 */
export function protoRuntime(): { entry: string; denoFlags: string[] } {
  return { entry: "bench/proto_quillflow.ts", denoFlags: [`--allow-read=${root.pathname}`] };
}

const BENCH_DATA_DIR = /^\/tmp\/quillflow-bench-[0-9a-f-]{36}$/;

/** A fresh data folder for a durable-store instance, `/tmp/quillflow-bench-<uuid>`. */
export function benchDataDir(): string {
  return `/tmp/quillflow-bench-${crypto.randomUUID()}`;
}

/**
 * Removes a folder of {@linkcode benchDataDir} once its server has stopped. Through `rm`: the
 * kit runs without write permission.
 */
export async function removeBenchDataDir(dir: string): Promise<void> {
  if (!BENCH_DATA_DIR.test(dir)) {
    throw new RangeError(`Cannot remove ${dir} as it is not a benchmark data folder`);
  }
  await new Deno.Command("rm", { args: ["-rf", "--", dir], stderr: "null" }).output();
}

/** Starts the floor with `flags` after `--port 0`. */
export function spawnFloor(flags: string[] = [], openFiles?: number): Promise<SpawnedServer> {
  return spawnServer({
    args: ["run", "--allow-net=127.0.0.1", path("bench/floor_server.ts"), "--port", "0", ...flags],
    ...(openFiles === undefined ? {} : { openFiles }),
  });
}

/**
 * Starts the loopback OpenAI-compatible server, answering each call after `delayMs` or paced as
 * `options` say; its URL ends in `/v1`.
 */
export async function spawnLlmServer(options: number | LlmServerOptions): Promise<SpawnedServer> {
  const answer = typeof options === "number" ? { delayMs: options } : options;
  const server = await spawnServer({
    args: [
      "run",
      "--allow-net=127.0.0.1",
      path("bench/llm_server.ts"),
      ...("wordMs" in answer
        ? ["--word-ms", String(answer.wordMs), "--words", String(answer.words)]
        : ["--delay-ms", String(answer.delayMs)]),
    ],
  });
  return { ...server, url: `${server.url}/v1` };
}

/**
 * Starts the relay floor (`bench/relay_floor.ts`) against the LLM server at `llmUrl`, reading
 * its answers over `transport`.
 */
export function spawnRelay(llmUrl: string, transport: string): Promise<SpawnedServer> {
  return spawnServer({
    args: [
      "run",
      "--allow-net=127.0.0.1",
      path("bench/relay_floor.ts"),
      "--port",
      "0",
      "--llm-url",
      llmUrl,
      "--transport",
      transport,
    ],
  });
}
