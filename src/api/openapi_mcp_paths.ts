/**
 * The OpenAPI path item of the MCP endpoint (`/mcp`), its three methods sharing one shape.
 *
 * @module
 */

import { ErrorSchema, JsonRpcErrorSchema, JsonRpcMessageSchema } from "./api_schema.ts";
import { API_SECURITY, errorOf, json, JSON_TYPE, P, R, SSE_TYPE } from "./openapi_components.ts";
import { McpStreamMessageSchema } from "./openapi_stream_messages.ts";
import type { OpenApiOperation, OpenApiPathItem, OpenApiResponse } from "./openapi_types.ts";

/** The MCP endpoint's path. */
export const MCP_PATHS: Record<string, OpenApiPathItem> = {
  "/mcp": {
    post: mcpOperation("mcpPost", "Send MCP messages", {
      "200": {
        description: "The JSON-RPC response(s), as JSON or as an event stream of messages; " +
          "an `initialize` response names the session in `Mcp-Session-Id`.",
        headers: {
          "Mcp-Session-Id": {
            description: "The new session's id, on the `initialize` response.",
            schema: { type: "string" },
          },
        },
        content: {
          [JSON_TYPE]: {
            schema: {
              oneOf: [JsonRpcMessageSchema, { type: "array", items: JsonRpcMessageSchema }],
            },
          },
          [SSE_TYPE]: { schema: { type: "string" }, "x-itemSchema": McpStreamMessageSchema },
        },
      },
      "202": { description: "Accepted: the body held only notifications or responses." },
      "413": { description: "The body is too large.", content: json(JsonRpcErrorSchema) },
      "415": {
        description: "The body is not `application/json`.",
        content: json(JsonRpcErrorSchema),
      },
    }),
    get: mcpOperation("mcpGet", "Open the session's event stream", {
      "200": {
        description: "Messages the server sends outside any request.",
        content: {
          [SSE_TYPE]: { schema: { type: "string" }, "x-itemSchema": McpStreamMessageSchema },
        },
      },
      "409": {
        description: "The session already has this stream open.",
        content: json(JsonRpcErrorSchema),
      },
    }),
    delete: mcpOperation("mcpDelete", "End the session", {
      "200": { description: "The session has ended." },
    }),
  },
};

function mcpOperation(
  operationId: string,
  summary: string,
  responses: Record<string, OpenApiResponse>,
): OpenApiOperation {
  const either = { oneOf: [ErrorSchema, JsonRpcErrorSchema] };
  return {
    operationId,
    summary,
    description:
      "The Model Context Protocol's Streamable HTTP transport: tools `write_article`, `start_article`, `get_job`, `list_jobs`, " +
      "`cancel_job` and each job's article as a resource. Use an MCP client; a session " +
      "starts with an `initialize` POST. Browser origins other than loopback ones and " +
      "`CORS_ORIGINS` are refused.",
    tags: ["MCP"],
    security: API_SECURITY,
    parameters: [P("McpSessionId"), P("McpProtocolVersion")],
    ...(operationId === "mcpPost"
      ? {
        requestBody: {
          required: true,
          content: json({
            oneOf: [JsonRpcMessageSchema, { type: "array", items: JsonRpcMessageSchema }],
          }),
        },
      }
      : {}),
    responses: {
      ...responses,
      "400": {
        description: "`session_required` (no `Mcp-Session-Id` on a request that is not an " +
          "`initialize`), or the transport's JSON-RPC error for a malformed message.",
        content: json(either),
      },
      "401": R("Unauthorized"),
      "403": errorOf("`origin_not_allowed`: a browser origin that may not call MCP."),
      "404": {
        description: "`session_not_found`: the session ended or the service restarted; " +
          "initialize a new one.",
        content: json(either),
      },
      "406": {
        description: "`Accept` must list `application/json` and `text/event-stream`.",
        content: json(JsonRpcErrorSchema),
      },
      "500": { description: "An unexpected error.", content: json(either) },
      "503": R("Unavailable"),
    },
  };
}
