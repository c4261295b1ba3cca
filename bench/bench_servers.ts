/**
 * Starts the programs a benchmark measures: Quillflow itself (`main.ts`), the floor
 * (`bench/floor_server.ts`) and the loopback LLM server (`bench/llm_server.ts`), each as its own
 * process so its CPU and memory can be read apart.
 *
 * @module
 */

import { type SpawnedServer, spawnServer } from "./spawned_server.ts";

const root = new URL("../", import.meta.url);
const path = (file: string) => new URL(file, root).pathname;

/**
 * Starts Quillflow with `flags` after `--port 0 --log-level warn`; `checkout` is another copy of
 * the project to run instead (for before/after figures in one run).
 */
export function spawnQuillflow(
  flags: string[],
  openFiles?: number,
  checkout?: string,
): Promise<SpawnedServer> {
  // Only the durable store touches the file system.
  const durable = flags.includes("sqlite");
  return spawnServer({
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      ...(durable ? ["--allow-read", "--allow-write"] : []),
      checkout === undefined ? path("main.ts") : `${checkout.replace(/\/$/, "")}/main.ts`,
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
  });
}

/** Starts the floor with `flags` after `--port 0`. */
export function spawnFloor(flags: string[] = [], openFiles?: number): Promise<SpawnedServer> {
  return spawnServer({
    args: ["run", "--allow-net=127.0.0.1", path("bench/floor_server.ts"), "--port", "0", ...flags],
    ...(openFiles === undefined ? {} : { openFiles }),
  });
}

/** Starts the loopback OpenAI-compatible server answering after `delayMs`; its URL ends in `/v1`. */
export async function spawnLlmServer(delayMs: number): Promise<SpawnedServer> {
  const server = await spawnServer({
    args: [
      "run",
      "--allow-net=127.0.0.1",
      path("bench/llm_server.ts"),
      "--delay-ms",
      String(delayMs),
    ],
  });
  return { ...server, url: `${server.url}/v1` };
}
