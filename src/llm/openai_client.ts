/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server,
 * LM Studio) through `npm:openai`.
 *
 * @module
 */

import { ChildAbortController } from "../core/child_abort.ts";
import OpenAI from "openai";
import { readChatStream, StreamCutError } from "./chat_completion_reader.ts";
import type { ChatEventHandlers } from "./chat_event_parser.ts";
import { streamChatOverSocket } from "./socket_chat_transport.ts";
import type { LlmCallOptions, LlmClient, LlmRequest, LlmUsage } from "./llm_client.ts";
import { explainLlmFailure } from "./llm_failure.ts";
import { type ProxyEnv, proxyFor } from "./proxy_env.ts";
import { retry, RetryError } from "../core/retry.ts";
import { timerQueue } from "../core/timer_queue.ts";

/** Options for {@linkcode OpenAiClient}. */
export interface OpenAiClientOptions {
  /** API key; local servers accept any non-empty value. */
  apiKey: string;
  /** Base URL such as `http://127.0.0.1:11434/v1`; OpenAI's when undefined. */
  baseURL?: string;
  /** Model name sent with each request. */
  model: string;
  /** Time limit of one attempt in ms. Default 60 000. */
  timeoutMs?: number;
  /** Attempts per call for 408/409/429/5xx, lost connections (mid-answer too), timeouts. Default 3. */
  maxAttempts?: number;
  /** Wait before the second attempt in ms (doubles, jittered). Default 500. */
  minRetryDelayMs?: number;
  /**
   * Makes the HTTP requests through the SDK; Deno's `fetch` by default. Streamed requests go
   * over a socket of their own instead (`socket_chat_transport.ts`), unless this or `readStream`
   * is given: then they too go through the SDK and this `fetch`, their bodies read by
   * `readStream`.
   */
  fetch?: (url: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** Reads a streamed answer's `fetch` body into deltas; {@linkcode readChatStream} by default. */
  readStream?: typeof readChatStream;
  /**
   * The proxy variables (`proxy_env.ts`): when one sends the base URL through a proxy, streamed
   * requests go through `fetch`, which speaks to proxies, rather than a socket of their own.
   */
  proxies?: ProxyEnv;
}

/** Whether an error from the SDK is worth another attempt. */
export function isTransientLlmError(error: unknown): boolean {
  if (error instanceof DOMException && error.name === "TimeoutError") return true;
  // The body is read outside the SDK, so a connection lost mid-answer is ours to classify.
  if (error instanceof StreamCutError) return true;
  if (error instanceof OpenAI.APIConnectionError) return true; // includes the SDK's timeouts
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    return status === 408 || status === 409 || status === 429 || status >= 500;
  }
  return false;
}

/**
 * The tokens of an OpenAI-style `usage` object (`prompt_tokens`, `completion_tokens`,
 * `total_tokens`), or `null` when it holds no counts.
 *
 * @example
 * ```ts
 * import { readUsage } from "./openai_client.ts";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(readUsage({ prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 }), {
 *   promptTokens: 12,
 *   completionTokens: 30,
 *   totalTokens: 42,
 * });
 * assert.equal(readUsage(null), null);
 * ```
 */
export function readUsage(raw: unknown): LlmUsage | null {
  if (typeof raw !== "object" || raw === null) return null;
  const count = (name: string) => {
    const value = (raw as Record<string, unknown>)[name];
    return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
  };
  const promptTokens = count("prompt_tokens");
  const completionTokens = count("completion_tokens");
  if (promptTokens === undefined || completionTokens === undefined) return null;
  return {
    promptTokens,
    completionTokens,
    totalTokens: count("total_tokens") ?? promptTokens + completionTokens,
  };
}

/** Calls chat completions, streaming when the caller wants deltas, retrying transient errors. */
export class OpenAiClient implements LlmClient {
  readonly provider = "openai";
  readonly model: string;
  readonly #client: OpenAI;
  readonly #maxAttempts: number;
  readonly #minRetryDelayMs: number;
  readonly #timeoutMs: number;
  readonly #readStream: typeof readChatStream;
  /** Whether streamed answers go through the SDK's `fetch` (a transport or reader was given). */
  readonly #streamViaFetch: boolean;
  /** Whether streamed requests ask for usage; off once the server refused the option. */
  #askUsage = true;
  /** Where streamed requests go and their headers, as the SDK built them the first time. */
  #streamTarget: Promise<StreamTarget> | undefined;

  /** Creates a client; no request is made until `complete`. */
  constructor(options: OpenAiClientOptions) {
    this.model = options.model;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#minRetryDelayMs = options.minRetryDelayMs ?? 500;
    this.#readStream = options.readStream ?? readChatStream;
    const transport = options.fetch ?? ((url, init) => fetch(url, init));
    this.#client = new OpenAI({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      timeout: this.#timeoutMs,
      // Retries are ours: they must cover a stream that breaks after it started, too.
      maxRetries: 0,
      // Deno's own fetch, handed over explicitly: the SDK's default path rejected on abort but
      // left the HTTP request running (the server never saw it cancelled).
      fetch: (url: string | URL | Request, init?: RequestInit) => transport(url, init),
    });
    // The base URL as the SDK resolved it (OpenAI's when none was given).
    this.#streamViaFetch = options.fetch !== undefined || options.readStream !== undefined ||
      proxyFor(new URL(this.#client.baseURL), options.proxies ?? {}) !== undefined;
  }

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    const { signal, onDelta, onRestart, onAttempt } = options;
    let streamed = false;
    const tracked: LlmCallOptions = {
      ...options,
      ...(onDelta ? { onDelta: (text: string) => (streamed = true, onDelta(text)) } : {}),
    };
    const failures: unknown[] = [];
    try {
      return await retry(async () => {
        if (streamed) {
          streamed = false;
          onRestart?.();
        }
        // Every request counts, failed ones too: a retry is paid for.
        let usage: LlmUsage | null = null;
        try {
          return await this.#attempt(request, tracked, (reported) => usage = reported);
        } finally {
          onAttempt?.(usage);
        }
      }, {
        maxAttempts: this.#maxAttempts,
        minTimeout: this.#minRetryDelayMs,
        isRetryable: isTransientLlmError,
        onRetry: (error) => void failures.push(error),
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (!(error instanceof RetryError)) throw error;
      throw new Error(explainLlmFailure([...failures, error.cause], "LLM_MAX_ATTEMPTS"), {
        cause: error,
      });
    }
  }

  async #attempt(
    request: LlmRequest,
    { signal, onDelta }: LlmCallOptions,
    onUsage: (usage: LlmUsage | null) => void,
  ): Promise<string> {
    // The SDK's timeout ends when headers arrive; a stream that then stalls needs this one,
    // which bounds the whole attempt.
    using timeout = new ChildAbortController(signal);
    const timer = timerQueue.schedule(
      this.#timeoutMs,
      () =>
        timeout.abort(
          new DOMException(`The LLM did not answer within ${this.#timeoutMs} ms`, "TimeoutError"),
        ),
    );
    try {
      return await this.#request(request, timeout.signal, onDelta, onUsage);
    } catch (error) {
      // Aborted, and not by the caller: it timed out.
      if (timeout.signal.aborted && !signal?.aborted) throw timeout.signal.reason;
      throw error;
    } finally {
      timerQueue.cancel(timer);
    }
  }

  async #request(
    request: LlmRequest,
    signal: AbortSignal,
    onDelta: ((text: string) => void) | undefined,
    onUsage: (usage: LlmUsage | null) => void,
  ): Promise<string> {
    const messages = [
      { role: "system" as const, content: request.system },
      { role: "user" as const, content: request.prompt },
    ];
    if (!onDelta) {
      const completion = await this.#client.chat.completions.create(
        { model: this.model, messages },
        { signal },
      );
      onUsage(readUsage(completion.usage));
      return completion.choices[0]?.message?.content ?? "";
    }
    const body = (askUsage: boolean) => ({
      model: this.model,
      messages,
      stream: true as const,
      // The usage of a streamed answer comes in a last chunk, only when asked for.
      ...(askUsage ? { stream_options: { include_usage: true } } : {}),
    });
    const handlers = {
      onDelta,
      onUsage: (usage: Record<string, unknown>) => onUsage(readUsage(usage)),
    };
    const ask = this.#streamViaFetch
      ? (askUsage: boolean) => this.#streamViaSdk(body(askUsage), signal, handlers)
      : (askUsage: boolean) => this.#streamViaSocket(body(askUsage), signal, handlers);
    try {
      return await ask(this.#askUsage);
    } catch (error) {
      // A server that refuses the option (older OpenAI-compatible ones may): ask without it,
      // and never again; its calls report no usage.
      const refused = this.#askUsage && error instanceof OpenAI.APIError && error.status === 400 &&
        /stream_options|include_usage/i.test(error.message);
      if (!refused) throw error;
      this.#askUsage = false;
      return await ask(false);
    }
  }

  /**
   * The SDK builds the request (base URL, auth, its headers); it goes out as HTTP/1.1 on a
   * kept-alive socket, whose bytes go straight into the parser, with no web stream per chunk.
   */
  async #streamViaSocket(
    body: OpenAI.ChatCompletionCreateParamsStreaming,
    signal: AbortSignal,
    handlers: Omit<ChatEventHandlers, "toError">,
  ): Promise<string> {
    const target = await (this.#streamTarget ??= this.#buildStreamTarget(body));
    return await streamChatOverSocket(
      { url: target.url, headers: target.headers, body: JSON.stringify(body), signal },
      handlers,
      {
        status: statusError,
        stream: streamError,
        connection: (cause) => new OpenAI.APIConnectionError({ cause }),
      },
    );
  }

  /**
   * The URL and headers of a streamed request, built by the SDK once per client: with a fixed
   * key and the SDK's retries off, every streamed request gets the same ones. Building and
   * copying them per call (`buildRequest`, then a `Headers` walk) was 8 % of the service's busy
   * time at 50 ms per call and 100 jobs at once (BENCHMARKS.md, "Issue 17, second step").
   */
  async #buildStreamTarget(
    body: OpenAI.ChatCompletionCreateParamsStreaming,
  ): Promise<StreamTarget> {
    try {
      const built = await this.#client.buildRequest({
        method: "post",
        path: "/chat/completions",
        body,
        stream: true,
      });
      const headers: Record<string, string> = {};
      built.req.headers.forEach((value, name) => headers[name] = value);
      return { url: built.url, headers };
    } catch (error) {
      // Built again by the next call, not failed forever.
      this.#streamTarget = undefined;
      throw error;
    }
  }

  /** The SDK makes the request with the given `fetch`; `readStream` reads the body. */
  async #streamViaSdk(
    body: OpenAI.ChatCompletionCreateParamsStreaming,
    signal: AbortSignal,
    handlers: Omit<ChatEventHandlers, "toError">,
  ): Promise<string> {
    const response = await this.#client.chat.completions.create(body, { signal }).asResponse();
    if (!response.body) throw new TypeError("The LLM answered a streaming request with no body");
    return await this.#readStream(response.body, handlers.onDelta, {
      signal,
      ...(handlers.onUsage ? { onUsage: handlers.onUsage } : {}),
      toError: (error) => streamError(error, response.headers),
    });
  }
}

/** Where a streamed request goes, and its headers. */
interface StreamTarget {
  url: string;
  headers: Readonly<Record<string, string>>;
}

/** The provider's error for an `error` event or chunk in a stream that started well. */
function streamError(error: unknown, headers: Headers): Error {
  return new OpenAI.APIError(
    undefined,
    typeof error === "object" && error !== null ? error : { message: String(error) },
    undefined,
    headers,
  );
}

/** The provider's error for a non-2xx answer whose body is `text`, typed as the SDK types it. */
function statusError(status: number, text: string, headers: Headers): Error {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // As the SDK's `makeStatusError`: a body without `error` is the error itself.
  const error = typeof json === "object" && json !== null &&
      (json as { error?: unknown }).error == null
    ? { error: json }
    : json;
  return OpenAI.APIError.generate(
    status,
    error as Record<string, unknown> | undefined,
    json === undefined ? text : undefined,
    headers,
  );
}
