/**
 * `quillflow generate "topic"`: runs the article workflow in this process, with progress on
 * stderr and the article as Markdown on stdout (or in a file). Ctrl-C cancels the LLM call in
 * flight. It uses the same job manager as the server, with a store in memory: a one-off run has
 * nothing to resume and should not show up in the server's job list.
 *
 * With `--server URL`, the job runs on that running service instead, through the typed client
 * (`src/client/client.ts`), with the same progress bar; Ctrl-C cancels the job there.
 *
 * @module
 */

import { QuillflowClient, QuillflowError } from "../client/client.ts";
import type { JobEvent } from "../core/job.ts";
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from "../core/logger.ts";
import { validateTopic } from "../core/topic_input.ts";
import { type FeedItem, isSignal } from "../jobs/job_feed.ts";
import type { JobManager } from "../jobs/job_manager.ts";
import { listenForInterrupts } from "./interrupts.ts";
import { describeUsage, type UsageSummary } from "../jobs/job_usage.ts";
import { ProgressBar } from "./progress_bar.ts";

/** Exit status after Ctrl-C, as shells report a process ended by SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** The settings {@linkcode runGenerate} reads; a `Config` has them. */
export interface GenerateSettings {
  /** The configured log level; below `warn` it is raised to `warn`. */
  logLevel: LogLevel;
  /** The configured `API_TOKEN`, the default token for `server`. */
  apiToken?: string | undefined;
}

/** What {@linkcode runGenerate} needs besides the settings. */

/** What a run took and cost, gathered from its events, for the last line. */
class Spent {
  /** Who wrote the text: the local writer, or the service's. */
  llm: { provider: string; model: string | null } | undefined;
  /** The newest accounting the job's events gave. */
  summary: UsageSummary | undefined;

  /** Takes note of one of the job's events. */
  see(event: JobEvent): void {
    if (event.type === "usage" || event.type === "complete") {
      this.summary = event.data as unknown as UsageSummary;
    }
  }

  /** The last line: time per step, requests, tokens and cost; empty when nothing ran. */
  line(): string {
    return this.summary && this.llm ? `quillflow: ${describeUsage(this.summary, this.llm)}\n` : "";
  }
}

export interface GenerateOptions {
  /** The topic, as typed. */
  topic: string;
  /** Write the article here instead of stdout. */
  out?: string | undefined;
  /**
   * Opens the jobs to run it with in this process (the composition root's `openJobs`, with a
   * store in memory: a one-off run has nothing to resume and should not show up in the server's
   * job list). Needed unless `server` is set.
   */
  openJobs?: (logger: Logger) => Promise<{
    manager: JobManager;
    shutdown(graceMs: number): Promise<void>;
  }>;
  /** The article's destination when `out` is unset. Default: stdout. */
  stdout?: (text: string) => Promise<void>;
  /** Progress and messages. Default: stderr. */
  stderr?: (text: string) => void;
  /** Whether stderr is a terminal. Default: asks `Deno.stderr.isTerminal()`. */
  tty?: boolean;
  /** Cancels the run, like Ctrl-C. Default: a SIGINT listener. */
  signal?: AbortSignal;
  /** Run the job on the service at this URL instead of in this process. */
  server?: string | undefined;
  /** The token for `server`; default the config's `API_TOKEN`. */
  token?: string | undefined;
}

const encoder = new TextEncoder();

async function writeStdout(text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let done = 0; done < bytes.length;) done += await Deno.stdout.write(bytes.subarray(done));
}

function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  for (let done = 0; done < bytes.length;) done += Deno.stderr.writeSync(bytes.subarray(done));
}

/**
 * Generates one article and returns the exit status: 0 when written, 1 when the workflow failed,
 * 2 for a bad topic, {@linkcode EXIT_INTERRUPTED} when cancelled.
 */
export async function runGenerate(
  settings: GenerateSettings,
  options: GenerateOptions,
): Promise<number> {
  const stderr = options.stderr ?? writeStderr;
  let topic: string;
  try {
    topic = validateTopic(options.topic);
  } catch (error) {
    stderr(`quillflow: ${(error as Error).message.replace("'topic'", "the topic")}\n`);
    return 2;
  }
  const bar = new ProgressBar({
    write: stderr,
    tty: options.tty ?? Deno.stderr.isTerminal(),
  });
  const interrupt = new AbortController();
  const signal = options.signal ?? interrupt.signal;
  // Kept to the end: a signal after the listener is gone would end the process mid-line.
  using _interrupts = options.signal ? undefined : listenForInterrupts({
    first: () => interrupt.abort(),
    again: () => {
      // End the bar's line first, or the shell's prompt is drawn on it.
      bar.stop("interrupted");
      stderr("quillflow: interrupted; no article was written\n");
      Deno.exit(EXIT_INTERRUPTED);
    },
  }, ["SIGINT"]);
  let last: JobEvent | undefined;
  const spent = new Spent();
  if (options.server !== undefined) {
    const token = options.token ?? settings.apiToken;
    try {
      last = await followRemote(options.server, token, topic, bar, signal, spent);
    } catch (error) {
      if (!(error instanceof QuillflowError)) throw error;
      bar.stop("failed");
      const why = error.status === 401
        ? `${options.server} refused the token (set it with --token or API_TOKEN)`
        : error.message;
      stderr(`quillflow: generation failed: ${why}\n`);
      return 1;
    }
  } else {
    last = await runHere(settings, options, topic, bar, signal, stderr, spent);
  }
  if (last?.type === "complete") {
    bar.stop("done");
    const article = `${String(last.data.article ?? "").trimEnd()}\n`;
    if (options.out !== undefined) {
      await Deno.writeTextFile(options.out, article);
      stderr(`quillflow: article written to ${options.out}\n`);
    } else {
      await (options.stdout ?? writeStdout)(article);
    }
    stderr(spent.line());
    return 0;
  }
  if (last?.type === "cancelled") {
    bar.stop("cancelled");
    stderr("quillflow: cancelled; no article was written\n");
    return EXIT_INTERRUPTED;
  }
  const message = last?.type === "error" ? String(last.data.message) : "the job ended unexpectedly";
  bar.stop("failed");
  stderr(`quillflow: generation failed: ${message}\n`);
  stderr(spent.line());
  return 1;
}

/** Runs the job in this process with a store in memory; resolves with its last event. */
async function runHere(
  settings: GenerateSettings,
  options: GenerateOptions,
  topic: string,
  bar: ProgressBar,
  signal: AbortSignal,
  stderr: (text: string) => void,
  spent: Spent,
): Promise<JobEvent | undefined> {
  // Info logs would tear through the progress bar; warnings and errors still show.
  const level = LOG_LEVELS.indexOf(settings.logLevel) < LOG_LEVELS.indexOf("warn")
    ? "warn"
    : settings.logLevel;
  if (!options.openJobs) throw new TypeError("Cannot run the job here: no openJobs was given");
  const jobs = await options.openJobs(createLogger(level, (line) => stderr(`${line}\n`)));
  const manager = jobs.manager;
  spent.llm = manager.llm;
  let last: JobEvent | undefined;
  try {
    const record = await manager.submit(topic);
    const cancel = () => {
      manager.cancel(record.id, "Cancelled with Ctrl-C").catch(() => {});
    };
    if (signal.aborted) cancel();
    else signal.addEventListener("abort", cancel, { once: true });
    bar.start();
    const { promise: ended, resolve } = Promise.withResolvers<void>();
    const sink = new WritableStream<FeedItem>({
      write(item) {
        if (isSignal(item)) return;
        last = item;
        spent.see(item);
        bar.update(item);
      },
      close: () => resolve(),
      abort: () => resolve(),
    });
    const writer = sink.getWriter();
    manager.subscribe(record, 0, {
      writer,
      abort: (reason) => writer.abort(reason).catch(() => {}),
    });
    await ended;
    signal.removeEventListener("abort", cancel);
  } finally {
    await jobs.shutdown(0);
  }
  return last;
}

/**
 * Runs the job on the service at `server` and follows its events (reconnecting as needed);
 * resolves with its last event. `signal` cancels the job there.
 */
async function followRemote(
  server: string,
  token: string | undefined,
  topic: string,
  bar: ProgressBar,
  signal: AbortSignal,
  spent: Spent,
): Promise<JobEvent | undefined> {
  const client = new QuillflowClient(server, { token });
  bar.start();
  const job = await client.submit(topic);
  spent.llm = { provider: job.provider, model: job.model };
  const cancel = () => {
    client.cancel(job.id).catch(() => {});
  };
  if (signal.aborted) cancel();
  else signal.addEventListener("abort", cancel, { once: true });
  let last: JobEvent | undefined;
  try {
    for await (const event of client.events(job.id)) {
      last = event;
      spent.see(event);
      bar.update(event);
    }
  } finally {
    signal.removeEventListener("abort", cancel);
  }
  return last;
}
