/**
 * Quillflow: turns an article topic into a finished article through an LLM workflow that runs
 * as a background job, streaming its progress over Server-Sent Events.
 *
 * Run: `deno task start` (offline demo writer by default), or `deno task start --help`.
 *
 * @module
 */

import { ENV_NAMES, flagOf, loadConfig, SETTINGS } from "./src/config.ts";
import { startServer } from "./src/server.ts";

const env = (name: string): string | undefined => {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not granted: treated as unset
  }
};

function help(): string {
  const rows = SETTINGS.map(([name, , , fallback, about]) =>
    `  ${flagOf(name).padEnd(24)} ${name.padEnd(20)} ${about}${
      fallback === undefined ? "" : ` [${JSON.stringify(fallback)}]`
    }`
  );
  return `Quillflow: article topic in, article out, progress streamed over SSE.

Usage: quillflow [serve] [flags]

Every flag has an environment variable; flags win.
${rows.join("\n")}
`;
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(help());
    Deno.exit(0);
  }
  let config;
  try {
    const loaded = loadConfig(env, Deno.args);
    const unknown = loaded.rest.filter((arg) => arg !== "serve");
    if (unknown.length > 0) throw new TypeError(`Unknown argument: ${unknown[0]} (see --help)`);
    config = loaded.config;
  } catch (error) {
    console.error(`quillflow: ${(error as Error).message}`);
    Deno.exit(2);
  }
  let server;
  try {
    server = await startServer(config);
  } catch (error) {
    // Such as Redis unreachable at start: say so plainly rather than with a stack trace.
    console.error(`quillflow: cannot start: ${(error as Error).message}`);
    Deno.exit(1);
  }
  console.log(`Quillflow is running at ${server.url} (provider: ${config.llmProvider})`);
  const stop = async () => {
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

export { ENV_NAMES };
