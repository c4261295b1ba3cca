/**
 * The page's assets, embedded with text imports so `deno compile` carries them and nothing is
 * read from disk at run time. Names are flat (`/static/<name>`); the vendored libraries keep
 * their npm dist bytes unchanged (see `static/vendor/`).
 *
 * @module
 */

import appJs from "../../static/app.js" with { type: "text" };
import apiDocsJs from "../../static/api_docs.js" with { type: "text" };
import apiClientJs from "../../static/api_client.js" with { type: "text" };
import jobViewJs from "../../static/job_view.js" with { type: "text" };
import sharedEventsJs from "../../static/shared_events.js" with { type: "text" };
import renderMarkdownJs from "../../static/render_markdown.js" with { type: "text" };
import styleCss from "../../static/style.css" with { type: "text" };
import docsCss from "../../static/docs.css" with { type: "text" };
import markedJs from "../../static/vendor/marked.esm.js" with { type: "text" };
import markedLicense from "../../static/vendor/marked.LICENSE" with { type: "text" };
import purifyJs from "../../static/vendor/purify.es.mjs" with { type: "text" };
import purifyLicense from "../../static/vendor/dompurify.LICENSE" with { type: "text" };

/** One servable file. */
export interface StaticAsset {
  /** The file's text. */
  readonly body: string;
  /** Its `content-type` header. */
  readonly contentType: string;
}

const JS = "text/javascript; charset=utf-8";
const TEXT = "text/plain; charset=utf-8";

/**
 * Every asset under `/static/`, by name.
 *
 * @example
 * ```ts
 * import { STATIC_ASSETS } from "./static_assets.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(STATIC_ASSETS.get("app.js")?.contentType, "text/javascript; charset=utf-8");
 * assert.equal(STATIC_ASSETS.get("../../main.ts"), undefined);
 * ```
 */
export const STATIC_ASSETS: ReadonlyMap<string, StaticAsset> = new Map([
  ["app.js", { body: appJs, contentType: JS }],
  ["api_client.js", { body: apiClientJs, contentType: JS }],
  ["job_view.js", { body: jobViewJs, contentType: JS }],
  ["shared_events.js", { body: sharedEventsJs, contentType: JS }],
  ["render_markdown.js", { body: renderMarkdownJs, contentType: JS }],
  ["style.css", { body: styleCss, contentType: "text/css; charset=utf-8" }],
  ["api_docs.js", { body: apiDocsJs, contentType: JS }],
  ["docs.css", { body: docsCss, contentType: "text/css; charset=utf-8" }],
  ["marked.esm.js", { body: markedJs, contentType: JS }],
  ["marked.LICENSE.txt", { body: markedLicense, contentType: TEXT }],
  ["purify.es.mjs", { body: purifyJs, contentType: JS }],
  ["dompurify.LICENSE.txt", { body: purifyLicense, contentType: TEXT }],
]);

const etags = new Map<string, Promise<string>>();

/** A strong ETag of an asset's bytes, computed once per process. */
export function assetEtag(name: string, asset: StaticAsset): Promise<string> {
  let etag = etags.get(name);
  if (!etag) {
    etag = crypto.subtle.digest("SHA-256", new TextEncoder().encode(asset.body)).then((hash) =>
      `"${
        Array.from(new Uint8Array(hash).slice(0, 12), (b) => b.toString(16).padStart(2, "0"))
          .join("")
      }"`
    );
    etags.set(name, etag);
  }
  return etag;
}
