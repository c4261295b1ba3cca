/**
 * JSON responses, as every route and the error mapping send them.
 *
 * @module
 */

/**
 * A JSON response of `body` with `status` and extra `headers`.
 *
 * @example
 * ```ts
 * import { json } from "./json_response.ts";
 * import assert from "node:assert/strict";
 *
 * const response = json({ ok: true }, 202);
 * assert.equal(response.status, 202);
 * assert.deepEqual(await response.json(), { ok: true });
 * ```
 */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}
