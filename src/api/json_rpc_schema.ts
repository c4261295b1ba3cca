/**
 * The MCP transport's JSON-RPC 2.0 messages and its own errors.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";

/** A JSON-RPC 2.0 message, as MCP exchanges them; the MCP specification has the details. */
export const JsonRpcMessageSchema = {
  type: "object",
  description: "A JSON-RPC 2.0 request, notification or response of the Model Context Protocol.",
  properties: { jsonrpc: { const: "2.0" } },
  required: ["jsonrpc"],
  additionalProperties: true,
} as const satisfies JsonSchema;

/** The MCP transport's own errors: JSON-RPC error objects. */
export const JsonRpcErrorSchema = {
  type: "object",
  description: "An error of the MCP transport itself, as a JSON-RPC error response.",
  properties: {
    jsonrpc: { const: "2.0" },
    error: {
      type: "object",
      properties: {
        code: { type: "integer" },
        message: { type: "string" },
        data: {},
      },
      required: ["code", "message"],
    },
    id: { type: "null" },
  },
  required: ["jsonrpc", "error", "id"],
} as const satisfies JsonSchema;
