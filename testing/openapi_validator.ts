/**
 * Holds real responses to the service's OpenAPI document: the status must be listed for the
 * route, the content type listed for that status, required headers present and valid, and the
 * body valid against the listed schema (JSON Schema draft 2020-12, by `npm:ajv`). Event streams
 * are read to their end and each event checked against the media type's `x-itemSchema`, its
 * `data` parsed as JSON and held to its `contentSchema`.
 *
 * The check is stricter than the document: an object may not carry a field the document does
 * not name (`unevaluatedProperties: false` is added wherever a schema leaves extra fields
 * unsaid), so a field added to a response without the document fails here, while the served
 * document still lets clients ignore fields they do not know.
 *
 * For tests only; the service never loads it.
 *
 * @module
 */

import { Ajv2020, type ErrorObject, type ValidateFunction } from "npm:ajv@8.20.0/dist/2020.js";
import addFormatsModule from "npm:ajv-formats@3.0.1";
import { readSse, type ReadSseOptions } from "./sse_client.ts";

// ajv-formats is CommonJS: its default export is the module object or the function itself.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as (ajv: Ajv2020) => void;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** An event of a stream as the document describes it: `data` parsed. */
export interface StreamEvent {
  event: string;
  id?: string;
  data: unknown;
}

/** What a checked response held. */
export interface CheckedResponse {
  /** The path template of the route, such as `/api/jobs/{id}`. */
  route: string;
  status: number;
  /** The content type without parameters, or `null` for an empty body. */
  mediaType: string | null;
  /** A JSON body, parsed. */
  body?: unknown;
  /** A text body. */
  text?: string;
  /** The events of an event stream, `data` parsed. */
  events?: StreamEvent[];
}

/** Options of {@linkcode OpenApiValidator.check}. */
export interface CheckOptions {
  /** For event streams: stop reading (and close the stream) after the event this accepts. */
  until?: (event: StreamEvent) => boolean;
  /** For event streams: fail when the stream has not ended (or met `until`) in this time. */
  timeoutMs?: ReadSseOptions["timeoutMs"];
}

const METHODS = ["get", "post", "put", "patch", "delete"] as const;

/** Thrown when a response is not what the document describes. */
export class UndocumentedResponseError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "UndocumentedResponseError";
  }
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * A copy of `value` for validation: JSON-in-a-string schemas become the schema of the parsed
 * value, and objects get `unevaluatedProperties: false` unless they say otherwise.
 */
function strictCopy(value: Json): Json {
  if (Array.isArray(value)) return value.map(strictCopy);
  if (!isObject(value)) return value;
  if (value.contentMediaType === "application/json" && value.contentSchema !== undefined) {
    return strictCopy(value.contentSchema);
  }
  const copy: JsonObject = {};
  for (const [key, item] of Object.entries(value)) copy[key] = strictCopy(item);
  const isObjectSchema = copy.type === "object" ||
    (isObject(copy.properties) && typeof copy.type !== "string");
  if (
    isObjectSchema && !("additionalProperties" in copy) && !("unevaluatedProperties" in copy)
  ) {
    copy.unevaluatedProperties = false;
  }
  return copy;
}

const escapePointer = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1");

function describeErrors(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).slice(0, 8).map((e) =>
    `${e.instancePath || "(root)"} ${e.message ?? ""}${
      e.params && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ""
    }`
  ).join("; ");
}

/**
 * Checks responses against an OpenAPI 3.1 document.
 *
 * @example
 * ```ts ignore
 * const validator = await OpenApiValidator.fetch(server.url);
 * const response = await fetch(`${server.url}/api/jobs/${id}`);
 * const { body } = await validator.check("GET", response.url, response);
 * ```
 */
export class OpenApiValidator {
  readonly #document: JsonObject;
  readonly #ajv: Ajv2020;
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #pointers = new WeakMap<JsonObject, string | undefined>();
  readonly #routes: { template: string; pattern: RegExp; item: JsonObject }[];
  /** Every `METHOD template status` checked so far, for coverage. */
  readonly seen: Set<string> = new Set();
  /** Every `template event` of an event stream checked so far, for coverage. */
  readonly seenEvents: Set<string> = new Set();

  /** Checks against `document` (the service's, as served). */
  constructor(document: unknown) {
    if (!isObject(document) || !isObject(document.paths)) {
      throw new TypeError("Cannot check responses: the document has no paths");
    }
    this.#document = document;
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(this.#ajv);
    this.#ajv.addSchema(strictCopy(document) as JsonObject, "openapi.json");
    this.#routes = Object.entries(document.paths).map(([template, item]) => ({
      template,
      pattern: new RegExp(
        `^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[^}/]+\}/g, "[^/]+")}$`,
      ),
      item: item as JsonObject,
    }));
  }

  /** Fetches the document a running service serves, checking that answer too. */
  static async fetch(baseUrl: string): Promise<OpenApiValidator> {
    const response = await fetch(`${baseUrl}/openapi.json`);
    const validator = new OpenApiValidator(await response.clone().json());
    await validator.check("GET", response.url, response);
    return validator;
  }

  /** The document checked against. */
  get document(): JsonObject {
    return this.#document;
  }

  /** The path templates and methods the document lists, such as `GET /api/jobs/{id}`. */
  operations(): string[] {
    return this.#routes.flatMap(({ template, item }) =>
      METHODS.filter((m) => isObject(item[m])).map((m) => `${m.toUpperCase()} ${template}`)
    );
  }

  /**
   * Throws an {@linkcode UndocumentedResponseError} unless `value` is valid against
   * `#/components/schemas/{name}`; stream messages take `data` parsed.
   */
  assertSchema(name: string, value: unknown): void {
    const validate = this.#validator(`#/components/schemas/${escapePointer(name)}`);
    if (!validate(value)) {
      throw new UndocumentedResponseError(
        `Not a valid ${name}: ${describeErrors(validate.errors)}\n${
          JSON.stringify(value).slice(0, 400)
        }`,
      );
    }
  }

  /**
   * Reads `response` (the answer to `method` on `url`) and throws an
   * {@linkcode UndocumentedResponseError} unless the document describes it.
   */
  async check(
    method: string,
    url: string | URL,
    response: Response,
    options: CheckOptions = {},
  ): Promise<CheckedResponse> {
    const path = new URL(url, "http://localhost").pathname;
    const what = `${method} ${path} → ${response.status}`;
    const fail = (why: string): never => {
      response.body?.cancel().catch(() => {});
      throw new UndocumentedResponseError(`${what}: ${why}`);
    };
    const route = this.#routes.find((r) => r.pattern.test(path));
    const lower = method.toLowerCase();
    let responseObject: JsonObject | undefined;
    let routeName: string;
    if (method === "OPTIONS") {
      routeName = "OPTIONS *";
      const name = { 204: "CorsPreflight", 403: "CorsForbidden" }[response.status];
      if (!name) fail("a preflight answers 204 or 403");
      responseObject = this.#component("responses", name as string);
    } else if (!route) {
      routeName = "*";
      if (response.status !== 404) fail("the document lists no such path, so only 404 fits");
      responseObject = this.#component("responses", "RouteNotFound");
    } else if (!isObject(route.item[lower])) {
      routeName = route.template;
      if (response.status !== 405) fail("the document lists no such method, so only 405 fits");
      const listed = METHODS.filter((m) => isObject(route.item[m])).map((m) => m.toUpperCase());
      if (listed.includes("GET")) listed.push("HEAD");
      const allow = (response.headers.get("allow") ?? "").split(",").map((m) => m.trim());
      if ([...allow].sort().join() !== [...listed].sort().join()) {
        fail(`Allow is ${JSON.stringify(allow)}, the document lists ${JSON.stringify(listed)}`);
      }
      responseObject = this.#component("responses", "MethodNotAllowed");
    } else {
      routeName = route.template;
      const responses = (route.item[lower] as JsonObject).responses as JsonObject;
      const listed = responses[String(response.status)];
      if (!isObject(listed)) {
        fail(`status not listed (listed: ${Object.keys(responses).join(", ")})`);
      }
      responseObject = this.#resolve(listed as JsonObject);
    }
    const pointer = this.#pointerOf(responseObject as JsonObject);
    this.seen.add(`${method} ${routeName} ${response.status}`);
    const responseSpec = responseObject as JsonObject;

    for (const [name, value] of Object.entries((responseSpec.headers ?? {}) as JsonObject)) {
      const header = this.#resolve(value as JsonObject);
      const actual = response.headers.get(name);
      if (actual === null) {
        if (header.required === true) fail(`the required header ${name} is missing`);
        continue;
      }
      if (isObject(header.schema)) {
        const validate = this.#ajv.compile(strictCopy(header.schema) as JsonObject);
        if (!validate(actual)) fail(`header ${name}: ${describeErrors(validate.errors)}`);
      }
    }

    const contentType = response.headers.get("content-type");
    const content = responseSpec.content as JsonObject | undefined;
    if (!content) {
      const text = method === "HEAD" ? "" : await response.text();
      if (text !== "") fail(`the document lists no body, got ${JSON.stringify(text.slice(0, 80))}`);
      return { route: routeName, status: response.status, mediaType: null };
    }
    if (contentType === null) fail("no content-type, the document lists a body");
    const mediaType = (contentType as string).split(";")[0]!.trim().toLowerCase();
    const media = content[mediaType];
    if (!isObject(media)) {
      fail(`content-type ${mediaType} not listed (listed: ${Object.keys(content).join(", ")})`);
    }
    const mediaPointer = pointer === undefined
      ? undefined
      : `${pointer}/content/${escapePointer(mediaType)}`;
    const result: CheckedResponse = { route: routeName, status: response.status, mediaType };

    if (mediaType === "text/event-stream") {
      const item = (media as JsonObject)["x-itemSchema"];
      if (!isObject(item) || mediaPointer === undefined) fail("a stream without x-itemSchema");
      // One validator per event type where the item schema is a oneOf on `event`, so an error
      // names what is wrong with that event rather than with every other kind.
      const byEvent = this.#validatorsByEvent(item as JsonObject, `${mediaPointer}/x-itemSchema`);
      result.events = [];
      for await (
        const frame of readSse(response.body!, {
          what: `${method} ${path}`,
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        })
      ) {
        if (frame.comment !== undefined) continue;
        let data: unknown;
        try {
          data = JSON.parse(frame.data);
        } catch {
          fail(`event ${frame.event}: data is not JSON: ${frame.data.slice(0, 80)}`);
        }
        const event: StreamEvent = {
          event: frame.event,
          data,
          ...(frame.id ? { id: frame.id } : {}),
        };
        const validate = byEvent.get(event.event) ?? byEvent.get(undefined);
        if (!validate) fail(`event type ${JSON.stringify(event.event)} is not described`);
        if (!validate!(event)) {
          fail(
            `event ${JSON.stringify(event).slice(0, 300)} is not described: ${
              describeErrors(validate!.errors)
            }`,
          );
        }
        result.events.push(event);
        this.seenEvents.add(`${routeName} ${event.event}`);
        if (options.until?.(event)) break;
      }
      return result;
    }

    const text = await response.text();
    if (mediaType === "application/json" || mediaType.endsWith("+json")) {
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        fail(`the body is not JSON: ${text.slice(0, 80)}`);
      }
      if (mediaPointer === undefined) fail("a JSON body without a schema");
      const validate = this.#validator(`${mediaPointer}/schema`);
      if (!validate(body)) {
        fail(`body not valid: ${describeErrors(validate.errors)}\n${text.slice(0, 400)}`);
      }
      result.body = body;
    } else {
      result.text = text;
    }
    return result;
  }

  /** Validators of an item schema by `event` name; `undefined` for one that is not a oneOf. */
  #validatorsByEvent(item: JsonObject, pointer: string): Map<string | undefined, ValidateFunction> {
    const byEvent = new Map<string | undefined, ValidateFunction>();
    const schema = this.#resolve(item);
    const branches = Array.isArray(schema.oneOf) ? schema.oneOf : undefined;
    if (!branches) {
      byEvent.set(undefined, this.#validator(pointer));
      return byEvent;
    }
    const base = typeof item.$ref === "string" ? item.$ref : pointer;
    branches.forEach((branch, i) => {
      const event = ((this.#resolve(branch as JsonObject).properties as JsonObject | undefined)
        ?.event as JsonObject | undefined)?.const;
      if (typeof event === "string") byEvent.set(event, this.#validator(`${base}/oneOf/${i}`));
    });
    return byEvent;
  }

  #validator(pointer: string): ValidateFunction {
    let validate = this.#validators.get(pointer);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `openapi.json${pointer}` });
      this.#validators.set(pointer, validate);
    }
    return validate;
  }

  #component(kind: string, name: string): JsonObject {
    const found = ((this.#document.components as JsonObject)?.[kind] as JsonObject)?.[name];
    if (!isObject(found)) {
      throw new UndocumentedResponseError(`The document has no components.${kind}.${name}`);
    }
    return found;
  }

  #resolve(value: JsonObject): JsonObject {
    let current = value;
    for (let hops = 0; typeof current.$ref === "string"; hops++) {
      if (hops > 8) throw new UndocumentedResponseError(`A $ref loop at ${value.$ref}`);
      let target: Json = this.#document;
      for (const key of current.$ref.slice(2).split("/")) {
        const name = key.replaceAll("~1", "/").replaceAll("~0", "~");
        target = isObject(target) ? target[name] as Json : null;
      }
      if (!isObject(target)) throw new UndocumentedResponseError(`No target for ${current.$ref}`);
      current = target;
    }
    return current;
  }

  /** Where `target` (an object of the document) sits, as a JSON pointer. */
  #pointerOf(target: JsonObject): string | undefined {
    if (this.#pointers.has(target)) return this.#pointers.get(target);
    const search = (node: Json, at: string): string | undefined => {
      if (node === target) return at;
      if (!isObject(node)) return undefined;
      for (const [key, child] of Object.entries(node)) {
        if (!isObject(child)) continue;
        const found = search(child, `${at}/${escapePointer(key)}`);
        if (found !== undefined) return found;
      }
      return undefined;
    };
    const found = search(this.#document, "#");
    this.#pointers.set(target, found);
    return found;
  }
}
