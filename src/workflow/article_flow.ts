/**
 * The article workflow: Generate Outline → Write Content (one section per outline entry, in
 * parallel with a bound) → Apply Style. Steps report through an {@linkcode ArticleReporter};
 * nothing here knows of jobs or HTTP.
 *
 * @module
 */

import { BatchNode, Flow, Node, type RunContext } from "./flow.ts";
import type { LlmClient, LlmUsage } from "../llm/llm_client.ts";
import { parseOutline } from "./outline.ts";
import { outlinePrompt, sectionPrompt, stylePrompt } from "./prompts.ts";
import type { StepName } from "../core/job.ts";
import { flatText } from "../core/flat_text.ts";

/** What the article steps tell the outside world as they go. */
export interface ArticleReporter {
  /** The outline exists. */
  outline(sections: string[]): void;
  /** Section `index` is written; `completed` of `total` are done. */
  sectionWritten(index: number, section: string, completed: number, total: number): void;
  /** Styling begins. */
  styleStarted(): void;
  /** Styling is done. */
  styleFinished(): void;
  /** Text is being written: `index` is the section's for the content step. */
  delta(step: StepName, index: number | undefined, text: string): void;
  /** The text streamed for `step`/`index` so far is void: the call starts over. */
  restart(step: StepName, index: number | undefined): void;
  /** Step `step` begins; a step that a checkpoint already holds does not. */
  stepStarted?(step: StepName): void;
  /** Step `step` is done. */
  stepFinished?(step: StepName): void;
  /**
   * A request to the LLM for `step` ended (every attempt, retries included), with the tokens
   * the server reported for it, if any.
   */
  llmAttempt?(step: StepName, usage: LlmUsage | null): void;
}

/** The shared store of one article run. */
export interface ArticleState {
  topic: string;
  /** Outline titles, once known (or restored from a checkpoint). */
  sections?: string[];
  /** Written sections by index (`null` until written), restorable from a checkpoint. */
  contents?: (string | null)[];
  draft?: string;
  article?: string;
}

/** Settings of the article workflow. */
export interface ArticleFlowOptions {
  /** Most sections an outline may have. Default 3. */
  maxSections?: number;
  /** Sections written at once. Default 3. */
  sectionConcurrency?: number;
  /** Attempts to get a valid outline. Default 3. */
  outlineAttempts?: number;
  /** Attempts per section and for styling (beyond the provider's own retries). Default 2. */
  stepAttempts?: number;
  /** Wait before a node's second attempt in ms. Default 100. */
  retryDelayMs?: number;
}

class GenerateOutline extends Node<ArticleState, string, string[]> {
  readonly #llm: LlmClient;
  readonly #reporter: ArticleReporter;
  readonly #maxSections: number;

  constructor(
    llm: LlmClient,
    reporter: ArticleReporter,
    maxSections: number,
    attempts: number,
    wait: number,
  ) {
    super({ maxAttempts: attempts, minTimeout: wait });
    this.#llm = llm;
    this.#reporter = reporter;
    this.#maxSections = maxSections;
  }

  override prep(state: ArticleState): string {
    return state.topic;
  }

  override async exec(
    topic: string,
    ctx: { signal: AbortSignal; attempt: number },
  ): Promise<string[]> {
    if (ctx.attempt > 1) this.#reporter.restart("outline", undefined);
    const reply = await this.#llm.complete(outlinePrompt(topic, this.#maxSections), {
      signal: ctx.signal,
      onDelta: (text) => this.#reporter.delta("outline", undefined, text),
      onRestart: () => this.#reporter.restart("outline", undefined),
      onAttempt: (usage) => this.#reporter.llmAttempt?.("outline", usage),
    });
    return parseOutline(reply, this.#maxSections);
  }

  override post(state: ArticleState, _topic: string, sections: string[]): undefined {
    state.sections = sections;
    state.contents = sections.map(() => null);
    this.#reporter.outline(sections);
    this.#reporter.stepFinished?.("outline");
  }

  override async run(state: ArticleState, ctx: RunContext): Promise<string | undefined> {
    // Restored from a checkpoint: the outline was paid for already.
    if (state.sections && state.sections.length > 0) return undefined;
    this.#reporter.stepStarted?.("outline");
    return await super.run(state, ctx);
  }
}

interface SectionTask {
  index: number;
  title: string;
  topic: string;
  /** Written before an interruption. */
  done: string | null;
}

class WriteContent extends BatchNode<ArticleState, SectionTask, string> {
  readonly #llm: LlmClient;
  readonly #reporter: ArticleReporter;
  #completed = 0;
  #total = 0;
  #state: ArticleState | undefined;

  constructor(
    llm: LlmClient,
    reporter: ArticleReporter,
    concurrency: number,
    attempts: number,
    wait: number,
  ) {
    super({ concurrency, maxAttempts: attempts, minTimeout: wait });
    this.#llm = llm;
    this.#reporter = reporter;
  }

  override prep(state: ArticleState): SectionTask[] {
    this.#reporter.stepStarted?.("content");
    const sections = state.sections ?? [];
    state.contents ??= sections.map(() => null);
    this.#state = state;
    this.#total = sections.length;
    this.#completed = state.contents.filter((c) => c !== null).length;
    return sections.map((title, index) => ({
      index,
      title,
      topic: state.topic,
      done: state.contents?.[index] ?? null,
    }));
  }

  override async exec(
    task: SectionTask,
    ctx: { signal: AbortSignal; attempt: number },
  ): Promise<string> {
    if (task.done !== null) return task.done;
    if (ctx.attempt > 1) this.#reporter.restart("content", task.index);
    const text = (await this.#llm.complete(sectionPrompt(task.topic, task.title), {
      signal: ctx.signal,
      onDelta: (delta) => this.#reporter.delta("content", task.index, delta),
      onRestart: () => this.#reporter.restart("content", task.index),
      onAttempt: (usage) => this.#reporter.llmAttempt?.("content", usage),
    })).trim();
    if (text === "") {
      throw new Error(`The LLM returned an empty section for ${JSON.stringify(task.title)}`);
    }
    // Report as each section finishes, not when the batch does: that is the live progress.
    if (this.#state?.contents) this.#state.contents[task.index] = flatText(text);
    this.#completed++;
    this.#reporter.sectionWritten(task.index, task.title, this.#completed, this.#total);
    return text;
  }

  override post(state: ArticleState, tasks: SectionTask[], results: string[]): undefined {
    state.contents = results;
    state.draft = tasks.map((t, i) => `## ${t.title}\n\n${results[i]}`).join("\n\n");
    this.#reporter.stepFinished?.("content");
  }
}

class ApplyStyle extends Node<ArticleState, { topic: string; draft: string }, string> {
  readonly #llm: LlmClient;
  readonly #reporter: ArticleReporter;

  constructor(llm: LlmClient, reporter: ArticleReporter, attempts: number, wait: number) {
    super({ maxAttempts: attempts, minTimeout: wait });
    this.#llm = llm;
    this.#reporter = reporter;
  }

  override prep(state: ArticleState): { topic: string; draft: string } {
    this.#reporter.styleStarted();
    this.#reporter.stepStarted?.("style");
    return { topic: state.topic, draft: state.draft ?? "" };
  }

  override async exec(
    input: { topic: string; draft: string },
    ctx: { signal: AbortSignal; attempt: number },
  ): Promise<string> {
    if (ctx.attempt > 1) this.#reporter.restart("style", undefined);
    const text = (await this.#llm.complete(stylePrompt(input.topic, input.draft), {
      signal: ctx.signal,
      onDelta: (delta) => this.#reporter.delta("style", undefined, delta),
      onRestart: () => this.#reporter.restart("style", undefined),
      onAttempt: (usage) => this.#reporter.llmAttempt?.("style", usage),
    })).trim();
    if (text === "") throw new Error("The LLM returned an empty article when styling");
    return text;
  }

  override post(state: ArticleState, _input: unknown, article: string): undefined {
    state.article = flatText(article);
    this.#reporter.styleFinished();
    this.#reporter.stepFinished?.("style");
  }
}

/**
 * Builds the three-step article flow. Run it with an {@linkcode ArticleState}; when it resolves,
 * `state.article` holds the styled article.
 *
 * @example
 * ```ts
 * import { type ArticleReporter, type ArticleState, createArticleFlow } from "./article_flow.ts";
 * import { OfflineWriter } from "../llm/offline_writer.ts";
 * import assert from "node:assert/strict";
 *
 * const quiet: ArticleReporter = {
 *   outline() {}, sectionWritten() {}, styleStarted() {}, styleFinished() {},
 *   delta() {}, restart() {},
 * };
 * const state: ArticleState = { topic: "tea" };
 * await createArticleFlow(new OfflineWriter(), quiet).run(state, {
 *   signal: new AbortController().signal,
 * });
 * assert.match(state.article ?? "", /tea/);
 * ```
 */
export function createArticleFlow(
  llm: LlmClient,
  reporter: ArticleReporter,
  options: ArticleFlowOptions = {},
): Flow<ArticleState> {
  const wait = options.retryDelayMs ?? 100;
  const stepAttempts = options.stepAttempts ?? 2;
  const outline = new GenerateOutline(
    llm,
    reporter,
    options.maxSections ?? 3,
    options.outlineAttempts ?? 3,
    wait,
  );
  outline
    .next(new WriteContent(llm, reporter, options.sectionConcurrency ?? 3, stepAttempts, wait))
    .next(new ApplyStyle(llm, reporter, stepAttempts, wait));
  return new Flow(outline);
}
