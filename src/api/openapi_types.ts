/**
 * The types of the OpenAPI 3.1 document's parts, as far as the service's document uses them.
 *
 * @module
 */

import type { JsonSchema } from "../core/json_schema.ts";

/** A reference to a component. */
export interface OpenApiRef {
  $ref: string;
}

/** A parameter of an operation. */
export interface OpenApiParameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  description?: string;
  schema: JsonSchema | OpenApiRef;
}

/** A response header. */
export interface OpenApiHeader {
  description: string;
  required?: boolean;
  schema: JsonSchema;
}

/** One media type of a body. */
export interface OpenApiMediaType {
  schema?: JsonSchema | OpenApiRef;
  /** Each event of a `text/event-stream` body, as OpenAPI 3.2's `itemSchema`. */
  "x-itemSchema"?: JsonSchema | OpenApiRef;
}

/** One response of an operation. */
export interface OpenApiResponse {
  description: string;
  headers?: Record<string, OpenApiHeader | OpenApiRef>;
  content?: Record<string, OpenApiMediaType>;
}

/** One method on one path. */
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: (OpenApiParameter | OpenApiRef)[];
  requestBody?: {
    required: boolean;
    description?: string;
    content: Record<string, OpenApiMediaType>;
  };
  responses: Record<string, OpenApiResponse | OpenApiRef>;
  security?: Record<string, string[]>[];
}

/** The methods the service routes. */
export type OpenApiMethod = "get" | "post" | "delete";

/** The operations of one path. */
export type OpenApiPathItem = Partial<Record<OpenApiMethod, OpenApiOperation>>;

/** The whole document. */
export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  tags: { name: string; description: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, OpenApiPathItem>;
  components: {
    schemas: Record<string, unknown>;
    responses: Record<string, OpenApiResponse>;
    parameters: Record<string, OpenApiParameter>;
    headers: Record<string, OpenApiHeader>;
    securitySchemes: Record<string, unknown>;
  };
}
