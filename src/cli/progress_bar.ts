/**
 * A terminal progress bar for a job: one redrawn line (bar, percentage, step, elapsed time) when
 * the output is a terminal, and plain lines, one per change, when it is a file or a pipe, where
 * carriage returns and escape codes would only be noise.
 *
 * @module
 */

import type { JobEvent } from "../core/job.ts";

/** Settings of a {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Where the text goes; stderr, so stdout stays the article. */
  write: (text: string) => void;
  /** Redraw one line in place (a terminal) instead of printing lines. */
  tty: boolean;
  /** Milliseconds since some origin; `performance.now` by default. */
  now?: () => number;
  /** Bar width in characters. Default 24. */
  width?: number;
}

const STEPS = ["outline", "content", "style"] as const;

/**
 * Turns a job's events into progress output.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress_bar.ts";
 * import assert from "node:assert/strict";
 *
 * const out: string[] = [];
 * const bar = new ProgressBar({ write: (t) => out.push(t), tty: false, now: () => 1_500 });
 * bar.start();
 * bar.update({ id: 3, type: "progress", data: { step: "outline", progress: 33, sections: ["a"] } });
 * assert.equal(out.at(-1), " 33% step 1/3 outline: 1 sections planned (0.0s)\n");
 * ```
 */
export class ProgressBar {
  readonly #write: (text: string) => void;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #width: number;
  #startedAt = 0;
  #percent = 0;
  #label = "waiting";
  #step = 0;
  #lastLine = "";
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Creates a bar; nothing is written until `start`. */
  constructor(options: ProgressBarOptions) {
    this.#write = options.write;
    this.#tty = options.tty;
    this.#now = options.now ?? (() => performance.now());
    this.#width = options.width ?? 24;
  }

  /** Starts the clock; on a terminal, redraws a few times a second so the time moves. */
  start(): void {
    this.#startedAt = this.#now();
    if (!this.#tty) return;
    this.#render();
    this.#timer = setInterval(() => this.#render(), 200);
  }

  /** Takes in one event of the job's log; text deltas are ignored. */
  update(event: JobEvent): void {
    const data = event.data;
    if (event.type === "status") {
      if (data.status === "running") this.#set(Number(data.progress ?? 0), 1, "outline: planning");
      else if (data.status === "queued") this.#set(this.#percent, 0, "queued");
    } else if (event.type === "progress") {
      const percent = Number(data.progress ?? this.#percent);
      if (data.step === "outline") {
        const count = Array.isArray(data.sections) ? data.sections.length : 0;
        this.#set(percent, 1, `outline: ${count} sections planned`);
      } else if (data.step === "content") {
        this.#set(percent, 2, `content: ${data.completed}/${data.total} sections written`);
      } else if (data.step === "style") {
        this.#set(percent, 3, data.stage === "finished" ? "style: done" : "style: polishing");
      }
    } else if (event.type === "complete") {
      this.#set(100, 3, "done");
    }
  }

  /** Stops redrawing and ends the line with `message` (shown as the final state). */
  stop(message?: string): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (message !== undefined) this.#label = message;
    if (this.#tty) this.#write(`\r\x1b[2K${this.#line()}\n`);
    else if (message !== undefined) this.#render();
  }

  #set(percent: number, step: number, label: string): void {
    this.#percent = Math.max(this.#percent, Math.min(100, percent));
    this.#step = Math.max(this.#step, step);
    this.#label = label;
    this.#render();
  }

  #line(): string {
    const seconds = ((this.#now() - this.#startedAt) / 1_000).toFixed(1);
    const step = this.#step === 0 ? "" : `step ${this.#step}/${STEPS.length} `;
    const text = `${String(Math.floor(this.#percent)).padStart(3)}% ${step}${this.#label}`;
    if (!this.#tty) return `${text} (${seconds}s)`;
    const filled = Math.round(this.#percent / 100 * this.#width);
    const bar = "█".repeat(filled) + "░".repeat(this.#width - filled);
    return `${bar} ${text} · ${seconds}s`;
  }

  #render(): void {
    if (this.#tty) {
      this.#write(`\r\x1b[2K${this.#line()}`);
      return;
    }
    // Plain output: a line per change, not per tick.
    const key = `${Math.floor(this.#percent)}|${this.#label}`;
    if (key === this.#lastLine) return;
    this.#lastLine = key;
    this.#write(`${this.#line()}\n`);
  }
}
