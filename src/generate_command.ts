/**
 * `quillflow generate "topic"`: runs the article workflow in this process, with progress on
 * stderr and the article as Markdown on stdout (or in a file). Ctrl-C cancels the LLM call in
 * flight. It uses the same job manager as the server, with a store in memory: a one-off run has
 * nothing to resume and should not show up in the server's job list.
 *
 * @module
 */

import type { Config } from "./config.ts";
import type { JobEvent } from "./job.ts";
import { listenForInterrupts } from "./interrupts.ts";
import { type FeedItem, isSignal } from "./job_feed.ts";
import { describeUsage, type UsageSummary } from "./job_usage.ts";
import { MemoryJobStore } from "./job_store.ts";
import type { LlmClient } from "./llm.ts";
import { createLogger, LOG_LEVELS } from "./logger.ts";
import { ProgressBar } from "./progress_bar.ts";
import { createLlm, createManager } from "./server.ts";
import { validateTopic } from "./topic_input.ts";

/** Exit status after Ctrl-C, as shells report a process ended by SIGINT. */
export const EXIT_INTERRUPTED = 130;

/** What {@linkcode runGenerate} needs besides the config. */
export interface GenerateOptions {
  /** The topic, as typed. */
  topic: string;
  /** Write the article here instead of stdout. */
  out?: string | undefined;
  /** The LLM client; built from the config by default. */
  llm?: LlmClient;
  /** The article's destination when `out` is unset. Default: stdout. */
  stdout?: (text: string) => Promise<void>;
  /** Progress and messages. Default: stderr. */
  stderr?: (text: string) => void;
  /** Whether stderr is a terminal. Default: asks `Deno.stderr.isTerminal()`. */
  tty?: boolean;
  /** Cancels the run, like Ctrl-C. Default: a SIGINT listener. */
  signal?: AbortSignal;
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
export async function runGenerate(config: Config, options: GenerateOptions): Promise<number> {
  const stderr = options.stderr ?? writeStderr;
  let topic: string;
  try {
    topic = validateTopic(options.topic);
  } catch (error) {
    stderr(`quillflow: ${(error as Error).message.replace("'topic'", "the topic")}\n`);
    return 2;
  }
  // Info logs would tear through the progress bar; warnings and errors still show.
  const level = LOG_LEVELS.indexOf(config.logLevel) < LOG_LEVELS.indexOf("warn")
    ? "warn"
    : config.logLevel;
  const store = new MemoryJobStore();
  const manager = createManager(
    config,
    options.llm ?? createLlm(config),
    store,
    createLogger(level, (line) => stderr(`${line}\n`)),
  );
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
  /** The newest accounting the job's events gave: for the last line. */
  let spent: UsageSummary | undefined;
  const llm = manager.llm;
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
        if (item.type === "usage" || item.type === "complete") {
          spent = item.data as unknown as UsageSummary;
        }
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
    await manager.close();
    await store.close();
  }
  // The last line says what the run took and cost: time per step, tokens, dollars.
  const summarise = () => {
    if (spent) stderr(`quillflow: ${describeUsage(spent, llm)}\n`);
  };
  if (last?.type === "complete") {
    bar.stop("done");
    const article = `${String(last.data.article ?? "").trimEnd()}\n`;
    if (options.out !== undefined) {
      await Deno.writeTextFile(options.out, article);
      stderr(`quillflow: article written to ${options.out}\n`);
    } else {
      await (options.stdout ?? writeStdout)(article);
    }
    summarise();
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
  summarise();
  return 1;
}
