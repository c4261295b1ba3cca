/**
 * `quillflow mcp`: an MCP server on stdin and stdout, for clients that start their tools as
 * child processes (Claude Desktop, Cursor, VS Code). Jobs run in this process with the store the
 * config names; stdout carries protocol messages only, logs go to stderr.
 *
 * The store defaults to memory here, not to the data directory as `quillflow serve` does: an MCP
 * client starts one such process per window or application, often while the service runs too,
 * and SQLite's lock lets one process at a time use a data directory. The article comes back in
 * the tool's answer; `--store sqlite` (with a `DATA_DIR` of its own) keeps jobs across restarts.
 *
 * @module
 */

import process from "node:process";
// @ts-types="@modelcontextprotocol/sdk/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { BullmqDispatcher } from "../bullmq_dispatcher.ts";
import type { Config } from "../config.ts";
import type { JobStore } from "../job_store.ts";
import { createLogger } from "../logger.ts";
import { connectRedis, createLlm, createManager } from "../server.ts";
import { openStore } from "../store_factory.ts";
import { createMcpServer } from "./mcp_server.ts";

/** Options of {@linkcode runMcpStdio}. */
export interface McpStdioOptions {
  /** The version reported to clients. */
  version: string;
  /** Ends the server, as the client closing stdin does. Default: SIGINT and SIGTERM. */
  signal?: AbortSignal;
}

/**
 * Keeps stdout for the protocol: whatever a library prints with `console.log` (or `info`,
 * `debug`, `dir`, `table`) goes to stderr instead of corrupting the message stream.
 */
function divertConsoleToStderr(): void {
  const toStderr = (...data: unknown[]) => console.error(...data);
  console.log = toStderr;
  console.info = toStderr;
  console.debug = toStderr;
  console.dir = toStderr;
  console.table = toStderr;
}

/**
 * Serves MCP on stdio until stdin ends or the process is told to stop; returns the exit status
 * (1 when the store cannot be opened, say a data directory another process holds).
 */
export async function runMcpStdio(config: Config, options: McpStdioOptions): Promise<number> {
  divertConsoleToStderr();
  const logger = createLogger(config.logLevel);
  let store: JobStore;
  let dispatcher: BullmqDispatcher | undefined;
  try {
    if (config.store === "redis") ({ store, dispatcher } = await connectRedis(config, logger));
    else store = openStore(config, logger);
  } catch (error) {
    console.error(`quillflow: cannot start: ${(error as Error).message}`);
    return 1;
  }
  const manager = createManager(config, createLlm(config), store, logger, dispatcher);
  if (dispatcher) {
    dispatcher.start(manager);
  } else {
    try {
      await manager.recover();
    } catch (error) {
      console.error(`quillflow: cannot take up the stored jobs: ${(error as Error).message}`);
      await manager.close();
      await store.close().catch(() => {});
      return 1;
    }
  }
  const server = createMcpServer(manager, { version: options.version, logger });
  const { promise: ended, resolve: end } = Promise.withResolvers<string>();
  const transport = new StdioServerTransport();
  transport.onclose = () => end("transport closed");
  const onEnd = () => end("stdin closed");
  process.stdin.on("end", onEnd);
  process.stdin.on("close", onEnd);
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const onSignal = () => end("signal");
  if (options.signal) options.signal.addEventListener("abort", onSignal, { once: true });
  else for (const name of signals) Deno.addSignalListener(name, onSignal);
  await server.connect(transport);
  logger.log("info", "mcp server ready on stdio", {
    store: config.store ?? "memory",
    provider: config.llmProvider,
  });
  const why = await ended;
  logger.log("info", "mcp server stopping", { why });
  if (!options.signal) { for (const name of signals) Deno.removeSignalListener(name, onSignal); }
  process.stdin.off("end", onEnd);
  process.stdin.off("close", onEnd);
  // The client is gone: no one waits for the running jobs. A durable store keeps them, to go on
  // at the next start; in memory they are cancelled.
  await server.close();
  const stopped = dispatcher?.stopTaking();
  await manager.shutdown(0);
  await stopped;
  await dispatcher?.close();
  await store.close();
  // stdin may still hold the event loop open: the process is done.
  process.stdin.destroy();
  return 0;
}
