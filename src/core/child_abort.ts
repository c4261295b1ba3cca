/**
 * An abort controller that follows a parent signal while it is in use.
 *
 * @module
 */

/**
 * An `AbortController` that also aborts, with the same reason, when `parent` does, until it is
 * disposed. `AbortSignal.any` does the same for a signal, but holds it through a `WeakRef` and a
 * `FinalizationRegistry`, which a garbage collection must trace on every call that made one:
 * five LLM calls and a batch per job, each its own. A listener removed when the work ends costs
 * neither.
 *
 * @example
 * ```ts
 * import { ChildAbortController } from "./child_abort.ts";
 * import assert from "node:assert/strict";
 *
 * const parent = new AbortController();
 * {
 *   using child = new ChildAbortController(parent.signal);
 *   parent.abort(new Error("stop"));
 *   assert.equal((child.signal.reason as Error).message, "stop");
 * }
 * const later = new ChildAbortController(parent.signal);
 * assert.ok(later.signal.aborted, "a parent aborted already aborts it at once");
 * ```
 */
export class ChildAbortController extends AbortController implements Disposable {
  readonly #parent: AbortSignal | undefined;
  readonly #follow = () => this.abort(this.#parent?.reason);

  /** Creates a controller that follows `parent` (none: a plain controller). */
  constructor(parent?: AbortSignal) {
    super();
    this.#parent = parent;
    if (!parent) return;
    if (parent.aborted) this.abort(parent.reason);
    else parent.addEventListener("abort", this.#follow, { once: true });
  }

  /** Stops following the parent. */
  [Symbol.dispose](): void {
    this.#parent?.removeEventListener("abort", this.#follow);
  }
}
