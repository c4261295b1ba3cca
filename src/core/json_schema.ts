/**
 * The subset of JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) that the API's shapes are
 * written in, and {@linkcode FromSchema}, the TypeScript type a schema describes. The API's
 * schemas are `as const` values: the OpenAPI document serves them and the client's types are
 * derived from them, so the two cannot disagree.
 *
 * @module
 */

/** JSON Schema's primitive type names. */
export type JsonTypeName =
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "null"
  | "array"
  | "object";

/** A schema in the subset {@linkcode FromSchema} understands; typos in keywords do not compile. */
export interface JsonSchema {
  readonly type?: JsonTypeName | readonly JsonTypeName[];
  readonly title?: string;
  readonly description?: string;
  readonly const?: unknown;
  readonly enum?: readonly unknown[];
  readonly oneOf?: readonly JsonSchema[];
  readonly anyOf?: readonly JsonSchema[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly format?: string;
  readonly contentMediaType?: string;
  readonly contentSchema?: JsonSchema;
  readonly examples?: readonly unknown[];
}

type Simplify<T> = { [K in keyof T]: T[K] };

type RequiredKeys<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;

type FromProperties<S, P> = Simplify<
  & { -readonly [K in keyof P as K extends RequiredKeys<S> ? K : never]: FromSchema<P[K]> }
  & { -readonly [K in keyof P as K extends RequiredKeys<S> ? never : K]?: FromSchema<P[K]> }
  & (S extends { readonly additionalProperties: infer A extends JsonSchema }
    ? Record<string, FromSchema<A>>
    : unknown)
>;

type FromObject<S> = S extends { readonly properties: infer P } ? FromProperties<S, P>
  : S extends { readonly additionalProperties: infer A extends JsonSchema }
    ? Record<string, FromSchema<A>>
  : Record<string, unknown>;

type FromType<T, S> = T extends "string" ? string
  : T extends "integer" | "number" ? number
  : T extends "boolean" ? boolean
  : T extends "null" ? null
  : T extends "array" ? (S extends { readonly items: infer I } ? FromSchema<I>[] : unknown[])
  : T extends "object" ? FromObject<S>
  : never;

/**
 * The type of the values `S` accepts, for the subset of {@linkcode JsonSchema}: `const`,
 * `enum`, `oneOf`, `anyOf`, `type` (one or a list), `properties` with `required`,
 * `additionalProperties`, `items`. Other keywords narrow nothing.
 *
 * @example
 * ```ts
 * import type { FromSchema } from "./json_schema.ts";
 *
 * const Point = {
 *   type: "object",
 *   properties: { x: { type: "number" }, label: { type: ["string", "null"] } },
 *   required: ["x"],
 * } as const;
 * const point: FromSchema<typeof Point> = { x: 1 };
 * const labelled: FromSchema<typeof Point> = { x: 1, label: null };
 * // @ts-expect-error: `x` is required
 * const wrong: FromSchema<typeof Point> = { label: "a" };
 * ```
 */
export type FromSchema<S> = S extends { readonly const: infer C } ? C
  : S extends { readonly enum: readonly (infer E)[] } ? E
  : S extends { readonly oneOf: readonly (infer O)[] } ? FromSchema<O>
  : S extends { readonly anyOf: readonly (infer O)[] } ? FromSchema<O>
  : S extends { readonly type: readonly (infer T)[] } ? FromType<T, S>
  : S extends { readonly type: infer T } ? FromType<T, S>
  : unknown;
