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
import type { Logger } from "../core/logger.ts";
import type { JobManager } from "../jobs/job_manager.ts";
import { createMcpServer } from "./mcp_server.ts";

/** Options of {@linkcode runMcpStdio}. */
export interface McpStdioOptions {
  /** The version reported to clients. */
  version: string;
  /** Logs, on stderr. */
  logger: Logger;
  /** Opens the jobs to serve (the composition root's `openJobs`); rejects when it cannot. */
  openJobs: (logger: Logger) => Promise<{
    manager: JobManager;
    shutdown(graceMs: number): Promise<void>;
  }>;
  /** What the ready log line says of the setup, such as the store and the provider. */
  describe?: Record<string, string>;
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
export async function runMcpStdio(options: McpStdioOptions): Promise<number> {
  divertConsoleToStderr();
  const logger = options.logger;
  let jobs;
  try {
    jobs = await options.openJobs(logger);
  } catch (error) {
    console.error(`quillflow: cannot start: ${(error as Error).message}`);
    return 1;
  }
  const manager = jobs.manager;
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
  logger.log("info", "mcp server ready on stdio", { ...options.describe });
  const why = await ended;
  logger.log("info", "mcp server stopping", { why });
  if (!options.signal) { for (const name of signals) Deno.removeSignalListener(name, onSignal); }
  process.stdin.off("end", onEnd);
  process.stdin.off("close", onEnd);
  // The client is gone: no one waits for the running jobs. A durable store keeps them, to go on
  // at the next start; in memory they are cancelled.
  await server.close();
  await jobs.shutdown(0);
  // stdin may still hold the event loop open: the process is done.
  process.stdin.destroy();
  return 0;
}
