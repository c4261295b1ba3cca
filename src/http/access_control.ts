/**
 * Who may call the API: an optional bearer token, per-job stream tokens for `EventSource`
 * (which cannot send headers), and CORS for an allow-list of origins.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";
import { HttpError } from "../core/http_error.ts";

const encoder = new TextEncoder();

/** Paths that need no token: the pages, their assets, health, metrics and the API document. */
function isPublic(pathname: string): boolean {
  return pathname === "/" || pathname === "/healthz" || pathname === "/metrics" ||
    pathname === "/docs" || pathname === "/openapi.json" || pathname.startsWith("/static/");
}

/** Paths of a job's event stream, where a stream token may stand in for the API token. */
function isStream(pathname: string): boolean {
  return pathname.startsWith("/progress/") ||
    (pathname.startsWith("/api/jobs/") && pathname.endsWith("/events"));
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/** Compares two secrets in time that depends on neither's content nor length. */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  return timingSafeEqual(await digest(a), await digest(b));
}

/**
 * Token checks and CORS headers.
 *
 * @example
 * ```ts
 * import { AccessControl } from "./access_control.ts";
 * import assert from "node:assert/strict";
 *
 * const access = new AccessControl("secret", []);
 * const token = await access.streamToken("job-1");
 * assert.notEqual(token, await access.streamToken("job-2"));
 * ```
 */
export class AccessControl {
  readonly #token: string | undefined;
  readonly #origins: ReadonlySet<string>;
  #key: Promise<CryptoKey> | undefined;

  /** `token` undefined leaves the API open; `origins` lists the CORS origins allowed. */
  constructor(token: string | undefined, origins: readonly string[]) {
    this.#token = token || undefined;
    this.#origins = new Set(origins);
  }

  /** Whether a token is required. */
  get enabled(): boolean {
    return this.#token !== undefined;
  }

  /** A token that opens job `jobId`'s event stream and nothing else (HMAC of the id). */
  async streamToken(jobId: string): Promise<string> {
    if (this.#token === undefined) {
      throw new TypeError("Cannot make a stream token when no API token is set");
    }
    this.#key ??= crypto.subtle.importKey(
      "raw",
      encoder.encode(this.#token),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#key,
      encoder.encode(`stream:${jobId}`),
    );
    return btoa(String.fromCharCode(...new Uint8Array(mac))).replaceAll("+", "-").replaceAll(
      "/",
      "_",
    )
      .replace(/=+$/, "");
  }

  /** Throws a 401 unless the request may use `url`; `jobId` is the route's job, if any. */
  async authorize(request: Request, url: URL, jobId: string | undefined): Promise<void> {
    if (this.#token === undefined || isPublic(url.pathname)) return;
    const header = request.headers.get("authorization") ?? "";
    const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    if (bearer !== undefined && await secretsEqual(bearer, this.#token)) return;
    const streamToken = url.searchParams.get("token");
    if (streamToken !== null && jobId !== undefined && isStream(url.pathname)) {
      if (await secretsEqual(streamToken, await this.streamToken(jobId))) return;
    }
    throw new HttpError(
      401,
      "unauthorized",
      "This route needs 'Authorization: Bearer <API_TOKEN>'",
      {
        headers: { "www-authenticate": 'Bearer realm="quillflow"' },
      },
    );
  }

  /** Whether any origin is allowed by CORS (`CORS_ORIGINS` is set). */
  get corsEnabled(): boolean {
    return this.#origins.size > 0;
  }

  /** Whether `request` is a CORS preflight. */
  isPreflight(request: Request): boolean {
    return request.headers.has("origin") && request.headers.has("access-control-request-method");
  }

  /**
   * Answers a preflight for a route that takes the method asked for: an allowed origin is
   * granted that method and the headers the API uses; any other origin gets a 403. Unknown paths
   * and methods the route does not take are the caller's to refuse first.
   */
  preflight(request: Request): Response {
    const origin = request.headers.get("origin") ?? "";
    if (!this.#origins.has(origin)) {
      throw new HttpError(
        403,
        "cors_origin_not_allowed",
        "This origin is not allowed by CORS_ORIGINS",
      );
    }
    return new Response(null, {
      status: 204,
      headers: {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": preflightMethod(request),
        "access-control-allow-headers":
          "authorization, content-type, last-event-id, idempotency-key",
        "access-control-max-age": "600",
      },
    });
  }

  /**
   * Adds CORS headers to `response` when the request's origin is allowed, and `Vary: Origin`
   * whenever CORS is on: the answer then depends on the origin, refused or absent ones too, and a
   * cache must not hand one origin's answer to another.
   */
  applyCors(request: Request, response: Response): void {
    // Reading a request header costs more than the rest of this: skip it when CORS is off.
    if (this.#origins.size === 0) return;
    const origin = request.headers.get("origin");
    try {
      const vary = response.headers.get("vary");
      if (vary === null || !/(?:^|,)\s*(?:origin|\*)\s*(?:,|$)/i.test(vary)) {
        response.headers.append("vary", "origin");
      }
      if (origin === null || !this.#origins.has(origin)) return;
      response.headers.set("access-control-allow-origin", origin);
      response.headers.set(
        "access-control-expose-headers",
        "location, retry-after, idempotent-replayed",
      );
    } catch {
      // Immutable headers (a fetched response): nothing to add to.
    }
  }
}

/** The method a preflight asks for (`Access-Control-Request-Method`). */
export function preflightMethod(request: Request): string {
  return (request.headers.get("access-control-request-method") ?? "").trim();
}
