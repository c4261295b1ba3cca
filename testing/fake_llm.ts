/**
 * An LLM test double for unit tests of the job core: answers each step at once with a fixed
 * outline and text, or holds every call until released, and records the calls it saw aborted.
 *
 * @module
 */

import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";

/** A scripted {@linkcode LlmClient}. */
export class FakeLlm implements LlmClient {
  readonly provider = "fake";
  readonly model = "fake-1";
  /** Calls made, by purpose. */
  readonly calls: LlmRequest["purpose"][] = [];
  /** Calls that saw their signal abort. */
  aborted = 0;
  /** While set, every call waits for `release()` (or its abort). */
  hold = false;
  readonly #waiting: (() => void)[] = [];

  /** Lets every held call answer. */
  release(): void {
    this.hold = false;
    for (const resume of this.#waiting.splice(0)) resume();
  }

  /** Calls waiting now. */
  get held(): number {
    return this.#waiting.length;
  }

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    this.calls.push(request.purpose);
    if (this.hold) {
      await new Promise<void>((resolve, reject) => {
        this.#waiting.push(resolve);
        options.signal?.addEventListener("abort", () => {
          this.aborted++;
          reject(options.signal?.reason);
        }, { once: true });
      });
    }
    options.signal?.throwIfAborted();
    const text = request.purpose === "outline"
      ? '```yaml\nsections:\n  - "One"\n  - "Two"\n```'
      : `Text for ${request.purpose}.`;
    options.onDelta?.(text);
    return text;
  }
}
