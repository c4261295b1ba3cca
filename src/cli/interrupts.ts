/**
 * Ctrl-C and SIGTERM for the command line: the first asks for a clean stop, a later one means
 * "now". One Ctrl-C under `deno task` arrives twice: the terminal signals its whole foreground
 * process group, and `deno task` passes the signal on to its child as well, a millisecond later.
 * Taken as two presses, the second cut the clean stop short: the shell's prompt landed on the
 * progress bar's line, and a server died without its shutdown.
 *
 * @module
 */

/**
 * Signals closer together than this are one keypress delivered twice. `deno task` passes its
 * copy on within a millisecond on an idle machine, but more than 250 ms late on a loaded one
 * (load average 4-12, 4 runs in 17): a 250 ms window turned one Ctrl-C into "stop now" there. A person who
 * means "now" presses again after the window.
 */
export const SAME_KEYPRESS_MS = 1_500;

/** What a signal means: the first, the same keypress again, or a later press. */
export type InterruptKind = "first" | "repeat" | "again";

/**
 * Tells a first interrupt from a repeat of it and from a later one.
 *
 * @example
 * ```ts
 * import { InterruptGate } from "./interrupts.ts";
 * import assert from "node:assert/strict";
 *
 * const gate = new InterruptGate();
 * assert.equal(gate.classify(1_000), "first");
 * assert.equal(gate.classify(1_001), "repeat"); // deno task passing the same Ctrl-C on
 * assert.equal(gate.classify(3_000), "again");
 * ```
 */
export class InterruptGate {
  #firstAt: number | undefined;

  /** What a signal received at `at` (milliseconds, any origin) means. */
  classify(at: number): InterruptKind {
    if (this.#firstAt === undefined) {
      this.#firstAt = at;
      return "first";
    }
    return at - this.#firstAt < SAME_KEYPRESS_MS ? "repeat" : "again";
  }
}

/** What to do at the first interrupt and at a later one. */
export interface InterruptHandlers {
  /** The first signal: stop cleanly. */
  first(signal: Deno.Signal): void;
  /** A signal at least {@linkcode SAME_KEYPRESS_MS} after the first: stop now. */
  again(signal: Deno.Signal): void;
}

/**
 * The exit status a shell reports for a process ended by `signal`.
 *
 * @example
 * ```ts
 * import { exitStatusOf } from "./interrupts.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(exitStatusOf("SIGINT"), 130);
 * assert.equal(exitStatusOf("SIGTERM"), 143);
 * ```
 */
export function exitStatusOf(signal: Deno.Signal): number {
  return signal === "SIGTERM" ? 143 : 130;
}

/**
 * Listens for `signals` (SIGINT and, but on Windows, SIGTERM) until the returned object is
 * disposed; a repeat of the first signal is ignored.
 *
 * @example
 * ```ts
 * import { listenForInterrupts } from "./interrupts.ts";
 *
 * let stopping = false;
 * using _interrupts = listenForInterrupts({
 *   first: () => stopping = true,
 *   again: () => Deno.exit(130),
 * }, ["SIGINT"]);
 * ```
 */
export function listenForInterrupts(
  handlers: InterruptHandlers,
  signals: readonly Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM"],
): Disposable {
  const gate = new InterruptGate();
  const listeners = signals.map((signal) => {
    const listener = () => {
      const kind = gate.classify(performance.now());
      if (kind === "first") handlers.first(signal);
      else if (kind === "again") handlers.again(signal);
    };
    Deno.addSignalListener(signal, listener);
    return [signal, listener] as const;
  });
  return {
    [Symbol.dispose]() {
      for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    },
  };
}
