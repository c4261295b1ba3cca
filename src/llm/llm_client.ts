/**
 * The seam between the workflow and whatever writes text.
 *
 * @module
 */

/** What a workflow step asks the writer for. */
export interface LlmRequest {
  /** Which step asks: `outline`, `section` or `style`. */
  purpose: "outline" | "section" | "style";
  /** The system message. */
  system: string;
  /** The user message; untrusted text in it is quoted as data. */
  readonly prompt: string;
  /** The structured inputs the prompt was built from (the offline writer works from these). */
  input: Readonly<Record<string, string | number>>;
}

/** The tokens of one request, as the server reported them. */
export interface LlmUsage {
  /** Tokens of the prompt (input). */
  promptTokens: number;
  /** Tokens written (output). */
  completionTokens: number;
  /** Their sum, as the server gave it. */
  totalTokens: number;
}

/** Options for one call. */
export interface LlmCallOptions {
  /** Aborts the call, including an HTTP request in flight. */
  signal?: AbortSignal;
  /** Receives text as it is written; when given, the call streams. */
  onDelta?: (text: string) => void;
  /** Called when the text streamed so far is void because the call starts over (a retry). */
  onRestart?: () => void;
  /**
   * Called as each request of the call ends, whether it succeeded or not (a call retried three
   * times makes three), with the tokens the server reported for it, or `null` when it reported
   * none (an error, a cut stream, a server that does not count, the offline writer).
   */
  onAttempt?: (usage: LlmUsage | null) => void;
}

/** Anything that completes a prompt: a model behind an API, or the offline demo writer. */
export interface LlmClient {
  /** `openai` or `offline`: shown in job data. */
  readonly provider: string;
  /** Model name, or `null` for the offline demo writer, which is not a model. */
  readonly model: string | null;
  /** Returns the full text; streams it through `onDelta` when that is given. */
  complete(request: LlmRequest, options?: LlmCallOptions): Promise<string>;
}
