/**
 * The loopback OpenAI-compatible server of `testing/` as its own process, so a benchmark can
 * read its CPU apart from the service's and the load script's.
 *
 * Run: `deno run --allow-net=127.0.0.1 bench/llm_server.ts --delay-ms 50`
 *
 * @module
 */

import { startOpenAiServer } from "../testing/openai_server.ts";

if (import.meta.main) {
  const at = Deno.args.indexOf("--delay-ms");
  const delayMs = at === -1 ? 50 : Number(Deno.args[at + 1]);
  const server = await startOpenAiServer({ delayMs });
  // The server keeps every request for tests; a benchmark's hundreds of jobs would only grow it.
  setInterval(() => server.requests.length = 0, 1_000);
  console.log(`LLM server is running at ${server.baseUrl}`);
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
}
