/**
 * Quillflow's `serve` command with a prototype LLM client of `proto_llm_clients.ts` in place of
 * the `openai` one: `--proto-llm NAME` picks it; every other flag is the command's own, and the
 * client talks to `--openai-base-url`. Nothing in `src/` changes; the figures say what the
 * change would save (BENCHMARKS.md, "Issue 17 baseline").
 *
 * Run: `deno run --allow-net --allow-env bench/proto_quillflow.ts --proto-llm tcp --port 0
 * --store memory --llm-provider openai --openai-base-url http://127.0.0.1:PORT/v1`
 *
 * @module
 */

import { processEnv } from "../src/core/process_env.ts";
import { parseCommand } from "../src/cli.ts";
import { startServer } from "../src/server.ts";
import { PROTO_LLM_CLIENTS } from "./proto_llm_clients.ts";

if (import.meta.main) {
  const args = [...Deno.args];
  const at = args.indexOf("--proto-llm");
  const name = at === -1 ? "tcp" : args.splice(at, 2)[1] ?? "";
  const build = PROTO_LLM_CLIENTS[name];
  if (!build) {
    throw new TypeError(`Unknown --proto-llm ${name}: one of ${Object.keys(PROTO_LLM_CLIENTS)}`);
  }
  const command = parseCommand(args, processEnv);
  if (command.kind !== "serve") throw new TypeError("Only the serve command runs with a prototype");
  const baseUrl = command.config.openaiBaseUrl;
  if (!baseUrl) throw new TypeError("--openai-base-url is required");
  const server = await startServer(command.config, { llm: build(baseUrl) });
  console.log(`Quillflow (${name} LLM client) is running at ${server.url}`);
  Deno.addSignalListener("SIGTERM", () => server.shutdown().finally(() => Deno.exit(0)));
}
