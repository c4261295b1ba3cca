/**
 * Quillflow as a Model Context Protocol server: tools that write articles as jobs (waiting for
 * one with live progress, or starting one and checking on it later), and each job's article as a
 * resource. Built on any job manager, so it serves over stdio and over HTTP alike and follows
 * jobs on every store, whichever instance runs them.
 *
 * @module
 */

// The SDK's export map names its declarations only for extensionless paths (deno check would
// see `any` without these `@ts-types`).
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { type CallToolResult, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { HttpError } from "../core/http_error.ts";
import { type JobEvent, type JobRecord, type JobSnapshot, toSnapshot } from "../core/job.ts";
import {
  JobFinishedError,
  type JobManager,
  QueueFullError,
  ShuttingDownError,
} from "../jobs/job_manager.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { describeError } from "../core/describe_error.ts";
import { StoreUnavailableError } from "../core/store_unavailable_error.ts";
import { validateTopic } from "../core/topic_input.ts";
import { followJob } from "./follow_job.ts";
import { progressNotice } from "./progress_notice.ts";

/** What the MCP server needs of a job manager; a {@linkcode JobManager} has it all. */
export type McpJobs = Pick<JobManager, "submit" | "get" | "list" | "cancel" | "subscribe">;

/** Options of {@linkcode createMcpServer}. */
export interface McpServerOptions {
  /** The version the server reports to clients. */
  version: string;
  /** Where unexpected errors are logged. */
  logger?: Logger;
}

/**
 * The URI of job `id`'s article resource.
 *
 * @example
 * ```ts
 * import { articleUri } from "./mcp_server.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(articleUri("0190-ab"), "quillflow://jobs/0190-ab/article");
 * ```
 */
export function articleUri(id: string): string {
  return `quillflow://jobs/${id}/article`;
}

/** JSON-RPC error code for a resource that does not exist (MCP specification). */
const RESOURCE_NOT_FOUND = -32002;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATUSES = ["queued", "running", "completed", "failed", "cancelled"] as const;

const topicInput = z.string().describe(
  'What the article is about, in plain words (1 to 500 characters), e.g. "The history of tea"',
);
const idInput = z.string().describe(
  "The job id (a UUID) returned by start_article or write_article, or listed by list_jobs",
);
const limitMessage = {
  error: (issue: { input?: unknown }) =>
    `'limit' must be an integer from 1 to 100: current value is ${JSON.stringify(issue.input)}`,
};
const limitInput = z.int(limitMessage).min(1, limitMessage).max(100, limitMessage).default(20)
  .describe("How many jobs to list, newest first: 1 to 100 (default 20)");

// Loose: a client must not reject a snapshot that gained a field since this schema was written.
const snapshotOutput = z.looseObject({
  id: z.string(),
  topic: z.string(),
  status: z.enum(STATUSES),
  progress: z.number().describe("Percent done, 0 to 100"),
  step: z.enum(["outline", "content", "style"]).nullable(),
  sections: z.array(z.string()).optional(),
  article: z.string().optional().describe("The article in Markdown, once completed"),
  error: z.string().optional().describe("Why the job failed"),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
});

/** A job as a list row: its snapshot without the article, which can be long. */
type ListedJob = Omit<JobSnapshot, "article"> & { articleUri?: string };

/**
 * A tool error result: the agent reads `message` and may correct its call; the session goes on.
 *
 * @example
 * ```ts
 * import { toolError } from "./mcp_server.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(toolError("No job with id \"x\"").isError, true);
 * ```
 */
export function toolError(message: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text: message }] };
}

/**
 * Builds the MCP server for `jobs`; connect it to one transport (`server.connect(transport)`).
 * Each connection needs a server of its own.
 *
 * @example
 * ```ts
 * import { createMcpServer } from "./mcp_server.ts";
 * import { JobManager } from "../jobs/job_manager.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import { OfflineWriter } from "../llm/offline_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const manager = new JobManager({ store: new MemoryJobStore(), llm: new OfflineWriter() });
 * const server = createMcpServer(manager, { version: "1.0.0" });
 * assert.equal(server.isConnected(), false);
 * await manager.close();
 * ```
 */
export function createMcpServer(jobs: McpJobs, options: McpServerOptions): McpServer {
  const logger = options.logger ?? silentLogger;
  const server = new McpServer(
    { name: "quillflow", title: "Quillflow", version: options.version },
    {
      instructions: "Quillflow writes Markdown articles with an LLM workflow (outline, sections, " +
        "style pass). Use write_article to get an article in one call, or start_article and " +
        "get_job for long runs. Finished articles are also resources: quillflow://jobs/{id}/article.",
    },
  );

  server.server.oninitialized = () => {
    const client = server.server.getClientVersion();
    logger.log("debug", "mcp client connected", {
      client: client ? `${client.name} ${client.version}` : "unknown",
    });
  };

  /** Turns what went wrong into a message the agent can act on. */
  const failure = (error: unknown, doing: string): CallToolResult => {
    if (error instanceof QueueFullError) {
      return toolError(`${error.message}: retry in ${error.retryAfterSeconds} seconds`);
    }
    // Bad input, a finished job, shutting down, the store unreachable: each says what to do.
    if (
      error instanceof HttpError || error instanceof JobFinishedError ||
      error instanceof ShuttingDownError || error instanceof StoreUnavailableError
    ) {
      return toolError(error.message);
    }
    logger.log("error", "mcp tool failed", { doing, error: describeError(error) });
    return toolError(`Could not ${doing}: internal error`);
  };

  const findJob = async (id: string): Promise<JobRecord | undefined> =>
    JOB_ID.test(id) ? await jobs.get(id) : undefined;

  const notFound = (id: string): CallToolResult =>
    toolError(
      `No job with id ${JSON.stringify(id)}: it never existed or has expired; ` +
        "list_jobs shows the jobs kept",
    );

  const snapshotResult = (record: JobRecord, summary: string): CallToolResult => {
    const snapshot = toSnapshot(record);
    return {
      content: [{ type: "text", text: `${summary}\n${JSON.stringify(snapshot, null, 2)}` }],
      structuredContent: { ...snapshot },
    };
  };

  server.registerTool("write_article", {
    title: "Write an article",
    description: "Writes a Markdown article about a topic and waits for it: plans an outline, " +
      "writes each section with the configured LLM, then polishes the whole. Takes seconds to a " +
      "few minutes. Returns the article and its job id. Send a progressToken to receive progress " +
      "notifications (progress 0-100 of total 100, message = the step). Cancelling the request " +
      "cancels the job. To start one without waiting, use start_article.",
    inputSchema: { topic: topicInput },
    outputSchema: {
      jobId: z.string().describe("The job's id, for get_job and the article resource"),
      article: z.string().describe("The article in Markdown"),
    },
    annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: true },
  }, async ({ topic }, extra) => {
    let record: JobRecord;
    try {
      record = await jobs.submit(validateTopic(topic));
    } catch (error) {
      return failure(error, "start the job");
    }
    const id = record.id;
    const token = extra._meta?.progressToken;
    let sent = -1;
    const stop = new AbortController();
    const onAbort = () => {
      stop.abort();
      // The SDK aborts the same way for a cancellation and for a closed connection, and marks
      // itself disconnected right after: a client that went away has not cancelled the job.
      queueMicrotask(() => {
        if (!server.isConnected()) return;
        jobs.cancel(id, "Cancelled by the MCP client").catch(() => {});
      });
    };
    if (extra.signal.aborted) onAbort();
    else extra.signal.addEventListener("abort", onAbort, { once: true });
    let end: JobEvent | undefined;
    try {
      end = await followJob(jobs, record, {
        signal: stop.signal,
        onEvent: async (event) => {
          if (token === undefined) return;
          const notice = progressNotice(event);
          // The protocol wants progress to increase with each notification.
          if (!notice || notice.progress <= sent) return;
          sent = notice.progress;
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, total: 100, ...notice },
          });
        },
      });
    } catch (error) {
      return failure(error, "follow the job");
    } finally {
      extra.signal.removeEventListener("abort", onAbort);
    }
    if (end?.type === "complete") {
      const article = String(end.data.article ?? "");
      return {
        content: [
          { type: "text", text: article },
          { type: "text", text: `Job id: ${id} (the article is also at ${articleUri(id)})` },
        ],
        structuredContent: { jobId: id, article },
      };
    }
    if (end?.type === "error") {
      return toolError(`The article could not be written (job ${id}): ${end.data.message}`);
    }
    if (end?.type === "cancelled") {
      return toolError(`Job ${id} was cancelled before it finished`);
    }
    return toolError(
      `The service stopped before job ${id} finished; ask get_job about it once it is back`,
    );
  });

  server.registerTool("start_article", {
    title: "Start an article",
    description: "Starts writing a Markdown article about a topic in the background and returns " +
      "its job id at once. Check on it with get_job (status, progress 0-100, the article once " +
      "completed), read the finished article as the resource quillflow://jobs/{id}/article, or " +
      "stop it with cancel_job.",
    inputSchema: { topic: topicInput },
    outputSchema: {
      jobId: z.string().describe("The new job's id"),
      status: z.enum(STATUSES),
    },
    annotations: { readOnlyHint: false, idempotentHint: false, openWorldHint: true },
  }, async ({ topic }) => {
    try {
      const record = await jobs.submit(validateTopic(topic));
      return {
        content: [{
          type: "text",
          text: `Started job ${record.id} for ${JSON.stringify(record.topic)}; ` +
            "ask get_job for its progress and article",
        }],
        structuredContent: { jobId: record.id, status: record.status },
      };
    } catch (error) {
      return failure(error, "start the job");
    }
  });

  server.registerTool("get_job", {
    title: "Get a job",
    description: "The current state of one job: status (queued, running, completed, failed or " +
      "cancelled), progress 0-100, the step running, the section titles, the article in " +
      "Markdown once completed, or the error once failed.",
    inputSchema: { id: idInput },
    outputSchema: snapshotOutput,
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ id }) => {
    try {
      const record = await findJob(id);
      if (!record) return notFound(id);
      return snapshotResult(record, `Job ${record.id} is ${record.status} (${record.progress}%).`);
    } catch (error) {
      return failure(error, "read the job");
    }
  });

  server.registerTool("list_jobs", {
    title: "List jobs",
    description: "Recent jobs, newest first: id, topic, status and progress of each, without " +
      "the article text (get_job or the articleUri resource has it).",
    inputSchema: { limit: limitInput },
    outputSchema: { jobs: z.array(snapshotOutput.omit({ article: true })) },
    annotations: { readOnlyHint: true, openWorldHint: false },
  }, async ({ limit }) => {
    try {
      const listed = (await jobs.list(limit)).map((record): ListedJob => {
        const { article: _, ...rest } = toSnapshot(record);
        return record.status === "completed"
          ? { ...rest, articleUri: articleUri(record.id) }
          : rest;
      });
      const lines = listed.map((job) =>
        `${job.id}  ${job.status.padEnd(9)} ${String(job.progress).padStart(3)}%  ${job.topic}`
      );
      return {
        content: [{ type: "text", text: lines.length > 0 ? lines.join("\n") : "No jobs." }],
        structuredContent: { jobs: listed },
      };
    } catch (error) {
      return failure(error, "list the jobs");
    }
  });

  server.registerTool("cancel_job", {
    title: "Cancel a job",
    description: "Cancels a queued or running job; the LLM call in flight is aborted. Returns " +
      "the job's state. A job that has already finished cannot be cancelled.",
    inputSchema: { id: idInput },
    outputSchema: snapshotOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, async ({ id }) => {
    try {
      const found = await findJob(id);
      const record = found && await jobs.cancel(found.id, "Cancelled by an MCP client");
      if (!record) return notFound(id);
      return snapshotResult(record, `Job ${record.id} is ${record.status}.`);
    } catch (error) {
      return failure(error, "cancel the job");
    }
  });

  const recentCompleted = async (): Promise<JobRecord[]> =>
    (await jobs.list(100)).filter((record) => record.status === "completed");

  server.registerResource(
    "article",
    new ResourceTemplate(articleUri("{id}"), {
      list: async () => ({
        resources: (await recentCompleted()).map((record) => ({
          uri: articleUri(record.id),
          name: `article-${record.id}`,
          title: record.topic,
          mimeType: "text/markdown",
        })),
      }),
      complete: {
        id: async (value) =>
          (await recentCompleted()).map((record) => record.id).filter((id) => id.startsWith(value)),
      },
    }),
    {
      title: "Article of a job",
      description: "The finished article of a completed job, in Markdown",
      mimeType: "text/markdown",
    },
    async (uri, { id }) => {
      const wanted = Array.isArray(id) ? id[0] ?? "" : id ?? "";
      const record = await findJob(wanted);
      if (!record) {
        throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: no job with id ${wanted}`, {
          uri: uri.href,
        });
      }
      if (record.status !== "completed" || record.article === undefined) {
        throw new McpError(
          RESOURCE_NOT_FOUND,
          `Resource not found: job ${record.id} has no article: it is ${record.status}` +
            (record.status === "running" ? ` (${record.progress}%)` : ""),
          { uri: uri.href },
        );
      }
      return { contents: [{ uri: uri.href, mimeType: "text/markdown", text: record.article }] };
    },
  );

  return server;
}
