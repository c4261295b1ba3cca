/**
 * Quillflow: turns an article topic into a finished article through an LLM workflow that runs
 * as a background job, streaming its progress over Server-Sent Events.
 *
 * Run: `deno task start` (the service), `deno task generate "topic"` (one article in the
 * terminal), or `deno task start --help`.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { runCli } from "./src/cli.ts";
import { processEnv } from "./src/core/process_env.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args, processEnv, denoJson.version));
}
