/**
 * Any OpenAI-compatible chat-completions endpoint (OpenAI, Ollama, vLLM, llama.cpp server,
 * LM Studio) through `npm:openai`.
 *
 * @module
 */

import OpenAI from "openai";
import type { LlmCallOptions, LlmClient, LlmRequest } from "./llm.ts";
import { retry } from "./retry.ts";

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
  /** Attempts per call for 408/409/429/5xx, connection errors and timeouts. Default 3. */
  maxAttempts?: number;
  /** Wait before the second attempt in ms (doubles, jittered). Default 500. */
  minRetryDelayMs?: number;
}

/** Whether an error from the SDK is worth another attempt. */
export function isTransientLlmError(error: unknown): boolean {
  if (error instanceof OpenAI.APIConnectionError) return true; // includes timeouts
  if (error instanceof OpenAI.APIError) {
    const status = error.status ?? 0;
    return status === 408 || status === 409 || status === 429 || status >= 500;
  }
  return false;
}

/** Calls chat completions, streaming when the caller wants deltas, retrying transient errors. */
export class OpenAiClient implements LlmClient {
  readonly provider = "openai";
  readonly model: string;
  readonly #client: OpenAI;
  readonly #maxAttempts: number;
  readonly #minRetryDelayMs: number;

  /** Creates a client; no request is made until `complete`. */
  constructor(options: OpenAiClientOptions) {
    this.model = options.model;
    this.#maxAttempts = options.maxAttempts ?? 3;
    this.#minRetryDelayMs = options.minRetryDelayMs ?? 500;
    this.#client = new OpenAI({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      timeout: options.timeoutMs ?? 60_000,
      // Retries are ours: they must cover a stream that breaks after it started, too.
      maxRetries: 0,
    });
  }

  complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    const { signal, onDelta, onRestart } = options;
    let streamed = false;
    const tracked: LlmCallOptions = {
      ...options,
      ...(onDelta ? { onDelta: (text: string) => (streamed = true, onDelta(text)) } : {}),
    };
    return retry(() => {
      if (streamed) {
        streamed = false;
        onRestart?.();
      }
      return this.#attempt(request, tracked);
    }, {
      maxAttempts: this.#maxAttempts,
      minTimeout: this.#minRetryDelayMs,
      isRetryable: isTransientLlmError,
      ...(signal ? { signal } : {}),
    });
  }

  async #attempt(request: LlmRequest, { signal, onDelta }: LlmCallOptions): Promise<string> {
    const messages = [
      { role: "system" as const, content: request.system },
      { role: "user" as const, content: request.prompt },
    ];
    const requestOptions = signal ? { signal } : {};
    if (!onDelta) {
      const completion = await this.#client.chat.completions.create(
        { model: this.model, messages },
        requestOptions,
      );
      return completion.choices[0]?.message?.content ?? "";
    }
    const stream = await this.#client.chat.completions.create(
      { model: this.model, messages, stream: true },
      requestOptions,
    );
    let text = "";
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        text += delta;
        onDelta(delta);
      }
    }
    return text;
  }
}
