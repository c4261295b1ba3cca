/**
 * The MCP Streamable HTTP endpoint (`/mcp`) of the running service: one MCP session per client,
 * each with its own server and transport, kept until the client ends it (`DELETE`), the service
 * stops, or newer sessions push it out. The MCP SDK is loaded on the first request, so a service
 * nobody calls over MCP starts as fast as before.
 *
 * @module
 */

import { HttpError } from "../core/http_error.ts";
import { type Logger, silentLogger } from "../core/logger.ts";
import { ReleasingMap } from "../core/releasing_map.ts";
import type { McpJobs } from "./mcp_server.ts";

/** Settings of an {@linkcode McpHttpEndpoint}. */
export interface McpHttpEndpointOptions {
  /** The jobs the tools run and read. */
  jobs: McpJobs;
  /** The version reported to clients. */
  version: string;
  /** Session and error logs. */
  logger?: Logger;
  /** Largest request body, in bytes. Default 16 KiB. */
  maxBodyBytes?: number;
  /**
   * Browser origins allowed besides loopback ones (`CORS_ORIGINS`). A request with any other
   * `Origin` is refused: the MCP specification asks for it, against DNS rebinding.
   */
  allowedOrigins?: readonly string[];
  /** Sessions kept at most; beyond, the least recently used one is closed. Default 1 000. */
  maxSessions?: number;
}

// The SDK's export map names its declarations only for extensionless paths.
type TransportModule = typeof import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp");

interface Sdk {
  Transport: TransportModule["WebStandardStreamableHTTPServerTransport"];
  createMcpServer: typeof import("./mcp_server.ts").createMcpServer;
}

interface Session {
  close(): Promise<void>;
  handle(request: Request): Promise<Response>;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

async function loadSdk(): Promise<Sdk> {
  const [transport, server] = await Promise.all([
    import("@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js") as Promise<
      TransportModule
    >,
    import("./mcp_server.ts"),
  ]);
  return {
    Transport: transport.WebStandardStreamableHTTPServerTransport,
    createMcpServer: server.createMcpServer,
  };
}

/**
 * Serves MCP over Streamable HTTP. Route `GET`, `POST` and `DELETE /mcp` to `handle`, behind the
 * same access rule as the API; call `close` when the service stops, after the job manager has
 * ended the jobs' streams (an open MCP stream would otherwise hold the server's shutdown).
 *
 * @example
 * ```ts
 * import { McpHttpEndpoint } from "./http_endpoint.ts";
 * import { JobManager } from "../jobs/job_manager.ts";
 * import { MemoryJobStore } from "../store/memory_job_store.ts";
 * import { OfflineWriter } from "../llm/offline_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const manager = new JobManager({ store: new MemoryJobStore(), llm: new OfflineWriter() });
 * const mcp = new McpHttpEndpoint({ jobs: manager, version: "1.0.0" });
 * // A GET needs a session: clients start one with an initialize POST.
 * await assert.rejects(mcp.handle(new Request("http://localhost/mcp")), /Mcp-Session-Id/);
 * await mcp.close();
 * await manager.close();
 * ```
 */
export class McpHttpEndpoint {
  readonly #options: McpHttpEndpointOptions;
  readonly #logger: Logger;
  readonly #origins: ReadonlySet<string>;
  readonly #maxSessions: number;
  /** By session id, least recently used first. */
  readonly #sessions = new ReleasingMap<string, Session>();
  #sdk: Promise<Sdk> | undefined;
  #closing = false;

  /** Creates the endpoint; nothing is loaded until the first request. */
  constructor(options: McpHttpEndpointOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#origins = new Set(options.allowedOrigins ?? []);
    this.#maxSessions = options.maxSessions ?? 1_000;
  }

  /** Open sessions. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Answers one MCP request. Throws an {@linkcode HttpError} for a foreign origin (403), an
   * unknown session (404) or a request without a session that does not start one (400).
   */
  async handle(request: Request): Promise<Response> {
    if (this.#closing) {
      throw new HttpError(503, "shutting_down", "The service is shutting down", {
        headers: { "retry-after": "5" },
      });
    }
    this.#checkOrigin(request);
    const sdk = await (this.#sdk ??= loadSdk());
    const id = request.headers.get("mcp-session-id");
    if (id !== null) {
      const session = this.#sessions.get(id);
      if (!session) {
        throw new HttpError(
          404,
          "session_not_found",
          "No such MCP session (it ended, or the service restarted): initialize a new one",
        );
      }
      // Most recently used last, so the first entry is the one to push out.
      this.#sessions.delete(id);
      this.#sessions.set(id, session);
      return await session.handle(request);
    }
    if (request.method !== "POST") {
      throw new HttpError(
        400,
        "session_required",
        "This request needs an Mcp-Session-Id header: start a session with an initialize POST",
      );
    }
    return await this.#open(sdk, request);
  }

  /** Ends every session and refuses new requests. */
  async close(): Promise<void> {
    this.#closing = true;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.allSettled(sessions.map((session) => session.close()));
  }

  async #open(sdk: Sdk, request: Request): Promise<Response> {
    const server = sdk.createMcpServer(this.#options.jobs, {
      version: this.#options.version,
      logger: this.#logger,
    });
    const session: Session = {
      close: () => server.close(),
      handle: (request) => transport.handleRequest(request),
    };
    const transport = new sdk.Transport({
      sessionIdGenerator: () => crypto.randomUUID(),
      maxRequestBodySize: this.#options.maxBodyBytes ?? 16_384,
      onsessioninitialized: (id) => {
        this.#sessions.set(id, session);
        this.#logger.log("debug", "mcp session opened", { session: id });
        this.#evictOverflow();
      },
      onsessionclosed: (id) => {
        this.#sessions.delete(id);
        this.#logger.log("debug", "mcp session closed", { session: id });
      },
    });
    await server.connect(transport);
    const response = await transport.handleRequest(request);
    // Anything but an initialize is refused by the transport and leaves nothing to keep.
    if (transport.sessionId === undefined) await server.close();
    return response;
  }

  #evictOverflow(): void {
    for (const [id, session] of this.#sessions) {
      if (this.#sessions.size <= this.#maxSessions) break;
      this.#sessions.delete(id);
      this.#logger.log("info", "mcp session closed: too many sessions", { session: id });
      session.close().catch(() => {});
    }
  }

  #checkOrigin(request: Request): void {
    const origin = request.headers.get("origin");
    if (origin === null || this.#origins.has(origin)) return;
    let host = "";
    try {
      host = new URL(origin).hostname;
    } catch {
      // "null" or garbage: refused below
    }
    if (LOOPBACK_HOSTS.has(host)) return;
    throw new HttpError(
      403,
      "origin_not_allowed",
      `MCP requests from the browser origin ${
        JSON.stringify(origin.slice(0, 100))
      } are not allowed; list it in CORS_ORIGINS`,
    );
  }
}
