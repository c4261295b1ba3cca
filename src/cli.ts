/**
 * The `quillflow` command line: `serve` (the default), `generate "topic"` and `mcp`, with `--help`
 * and `--version`. Every command takes every setting as a flag or an environment variable.
 *
 * @module
 */

import { type Config, defaultText, flagOf, loadConfig, SETTINGS } from "./config.ts";
import { type GenerateOptions, runGenerate as runGenerateWith } from "./cli/generate_command.ts";
import { exitStatusOf, listenForInterrupts } from "./cli/interrupts.ts";
import { resolveDataDir } from "./store_factory.ts";
import { startServer } from "./server.ts";
import { openJobs } from "./open_jobs.ts";
import { createLogger } from "./core/logger.ts";

/**
 * `quillflow generate`: one article, run here with the jobs `config` asks for (a store in
 * memory: a one-off run has nothing to resume), or on `options.server`. Returns the exit status.
 */
export function runGenerate(config: Config, options: GenerateOptions): Promise<number> {
  return runGenerateWith(config, {
    openJobs: (logger) => openJobs(config, { logger, store: "memory" }),
    ...options,
  });
}

/** What the command line asks for. */
export type Command =
  | { kind: "help"; topic?: HelpTopic }
  | { kind: "version" }
  | { kind: "serve"; config: Config }
  | {
    kind: "generate";
    config: Config;
    topic: string;
    out: string | undefined;
    /** Run on this service instead of in this process. */
    server?: string | undefined;
    /** The token for `server`. */
    token?: string | undefined;
  }
  | { kind: "mcp"; config: Config };

/** A command with help of its own. */
type HelpTopic = "serve" | "generate" | "mcp";

const COMMANDS = new Set(["serve", "generate", "mcp", "help"]);
const isHelpTopic = (name: string | undefined): name is HelpTopic =>
  name === "serve" || name === "generate" || name === "mcp";

/**
 * Reads the command, its arguments and the config from `args` and `env`. Throws a `TypeError`
 * saying what is wrong.
 *
 * @example
 * ```ts
 * import { parseCommand } from "./cli.ts";
 * import assert from "node:assert/strict";
 *
 * const command = parseCommand(["generate", "tea", "--out", "tea.md"], () => undefined);
 * assert.equal(command.kind, "generate");
 * assert.equal(command.kind === "generate" && command.out, "tea.md");
 * assert.equal(command.kind === "generate" && command.config.store, "sqlite");
 * ```
 */
export function parseCommand(
  args: readonly string[],
  env: (name: string) => string | undefined,
): Command {
  const first = args.find((arg) => !arg.startsWith("-"));
  const name = first !== undefined && COMMANDS.has(first) ? first : undefined;
  if (args.includes("--help") || args.includes("-h") || name === "help") {
    const about = name === "help" ? args[args.indexOf("help") + 1] : name;
    return isHelpTopic(about) ? { kind: "help", topic: about } : { kind: "help" };
  }
  if (args.includes("--version") || args.includes("-V")) return { kind: "version" };
  const { config, rest } = loadConfig(env, args);
  const positional: string[] = [];
  let out: string | undefined;
  const remote: { server?: string; token?: string } = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (arg === "--out" || arg === "-o") {
      out = rest[++i];
      if (out === undefined || out === "") throw new TypeError(`${arg} needs a file name`);
    } else if (arg.startsWith("--out=")) {
      out = arg.slice("--out=".length);
    } else if (flag === "--server" || flag === "--token") {
      const value = inline ?? rest[++i];
      if (value === undefined || value === "") {
        throw new TypeError(`${flag} needs a value${flag === "--server" ? ": a URL" : ""}`);
      }
      remote[flag === "--server" ? "server" : "token"] = value;
    } else if (arg.startsWith("-") && arg !== "-") {
      throw new TypeError(`Unknown flag: ${arg} (see --help)`);
    } else {
      positional.push(arg);
    }
  }
  const command = positional[0] !== undefined && COMMANDS.has(positional[0])
    ? positional.shift()
    : "serve";
  // The command line keeps jobs by default; embedders of startServer choose for themselves. An
  // MCP client starts `quillflow mcp` once per window, often beside the service: these would
  // fight over the data directory's lock, so `mcp` keeps its jobs in memory unless told.
  config.store ??= command === "mcp" ? "memory" : "sqlite";
  if (command === "generate") {
    if (positional.length === 0) {
      throw new TypeError('generate needs a topic: quillflow generate "topic"');
    }
    if (positional.length > 1) {
      throw new TypeError(
        `generate takes one topic; quote it if it has spaces: quillflow generate "${
          positional.join(" ")
        }"`,
      );
    }
    if (remote.token !== undefined && remote.server === undefined) {
      throw new TypeError("--token goes with --server URL");
    }
    if (remote.server !== undefined && !/^https?:\/\/[^/]/.test(remote.server)) {
      throw new TypeError(
        `--server must be an http(s) URL: current value is ${JSON.stringify(remote.server)}`,
      );
    }
    return { kind: "generate", config, topic: positional[0] as string, out, ...remote };
  }
  if (out !== undefined) throw new TypeError("--out belongs to generate");
  if (remote.server !== undefined || remote.token !== undefined) {
    throw new TypeError("--server and --token belong to generate");
  }
  if (positional.length > 0) throw new TypeError(`Unknown argument: ${positional[0]} (see --help)`);
  return command === "mcp" ? { kind: "mcp", config } : { kind: "serve", config };
}

/** The help text; `topic` narrows it to one command. */
export function helpText(version: string, topic?: HelpTopic): string {
  const rows = SETTINGS.map(([name, , , , about]) => {
    const fallback = defaultText(name);
    return `  ${flagOf(name).padEnd(24)} ${name.padEnd(20)} ${about}${
      fallback === undefined ? "" : ` [${fallback}]`
    }`;
  });
  const usage = {
    serve: `  quillflow [serve] [flags]
      Runs the service: REST + SSE API and the page at http://HOST:PORT/.
      Jobs are kept in DATA_DIR (STORE=sqlite) across restarts; unfinished ones resume.`,
    generate: `  quillflow generate "topic" [--out FILE] [--server URL [--token T]] [flags]
      Writes one article in this process: progress on stderr, Markdown on stdout
      (or in FILE). Ctrl-C cancels and exits with status 130. With --server, the
      job runs on that running service instead (token: --token, else API_TOKEN).`,
    mcp: `  quillflow mcp [flags]
      Serves MCP (Model Context Protocol) on stdin/stdout for agents such as Claude
      Desktop: tools write_article, start_article, get_job, list_jobs, cancel_job.
      Jobs run in this process and are kept in memory unless STORE says otherwise.
      The running service serves the same at http://HOST:PORT/mcp.`,
  };
  return `Quillflow ${version}: article topic in, article out.

Usage:
${topic ? usage[topic] : `${usage.serve}\n${usage.generate}\n${usage.mcp}`}
  quillflow --help | --version

Settings (flags win over environment variables):
${rows.join("\n")}
`;
}

/** Runs the command line and returns the exit status (a server runs until a signal stops it). */
export async function runCli(
  args: readonly string[],
  env: (name: string) => string | undefined,
  version: string,
): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(args, env);
  } catch (error) {
    console.error(`quillflow: ${(error as Error).message}`);
    return 2;
  }
  switch (command.kind) {
    case "help":
      console.log(helpText(version, command.topic));
      return 0;
    case "version":
      console.log(`quillflow ${version}`);
      return 0;
    case "generate":
      return await runGenerate(command.config, {
        topic: command.topic,
        out: command.out,
        server: command.server,
        token: command.token,
      });
    case "mcp": {
      // Loaded only for this command: the MCP SDK is no cost to `serve` and `generate`.
      const { runMcpStdio } = await import("./mcp/stdio_command.ts");
      const config = command.config;
      return await runMcpStdio({
        version,
        logger: createLogger(config.logLevel),
        openJobs: (logger) => openJobs(config, { logger }),
        describe: { store: config.store ?? "memory", provider: config.llmProvider },
      });
    }
    case "serve":
      return await serve(command.config, env);
  }
}

/**
 * Where the started service keeps its jobs, for the start line; never a Redis password.
 *
 * @example
 * ```ts
 * import { whereJobsAre } from "./cli.ts";
 * import { loadConfig } from "./config.ts";
 * import assert from "node:assert/strict";
 *
 * const env = (name: string) => ({ STORE: "redis", REDIS_URL: "redis://:pw@10.0.0.5:6379/2" })[name];
 * const { config } = loadConfig(env);
 * assert.equal(whereJobsAre(config, env), "jobs shared through Redis at redis://10.0.0.5:6379/2");
 * ```
 */
export function whereJobsAre(config: Config, env: (name: string) => string | undefined): string {
  switch (config.store) {
    case "sqlite":
      return `jobs kept in ${resolveDataDir(config, env)}`;
    case "redis": {
      const url = new URL(config.redisUrl as string);
      return `jobs shared through Redis at ${url.protocol}//${url.host}${url.pathname}`;
    }
    default:
      return "jobs kept in memory only";
  }
}

async function serve(config: Config, env: (name: string) => string | undefined): Promise<number> {
  let server;
  try {
    server = await startServer(config);
  } catch (error) {
    // Such as an unreadable data file or Redis unreachable: say so plainly, no stack trace.
    console.error(`quillflow: cannot start: ${(error as Error).message}`);
    return 1;
  }
  console.log(
    `Quillflow is running at ${server.url} (provider: ${config.llmProvider}; ${
      whereJobsAre(config, env)
    })`,
  );
  const { promise: stopped, resolve } = Promise.withResolvers<number>();
  using _interrupts = listenForInterrupts({
    first: () => {
      server.shutdown().then(() => resolve(0), (error) => {
        console.error(`quillflow: shutdown failed: ${(error as Error).message}`);
        resolve(1);
      });
    },
    // A second Ctrl-C means now, as it did when the default action ended the process.
    again: (signal) => Deno.exit(exitStatusOf(signal)),
  });
  return await stopped;
}
