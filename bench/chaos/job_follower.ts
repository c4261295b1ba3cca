/**
 * Follows one job's event stream to its end as a careful client would, across every drop:
 * reconnect (to whichever instance `baseUrl()` names now) with `Last-Event-ID`, and check on the
 * way that ids run 1, 2, 3… with no gap or duplicate, that nothing follows a terminal event, and
 * that the finished article is the `style` text streamed after its last `reset`.
 *
 * @module
 */

import { readSse, type SseEvent } from "../../testing/sse_client.ts";
import type { Ledger, StreamCheck } from "./ledger.ts";

const TERMINAL = new Set(["complete", "error", "cancelled"]);

/** Options for {@linkcode followJob}. */
export interface FollowOptions {
  /** Gives up (and says so) at this `performance.now()`. */
  deadline: number;
  /** Resume after this event id, as a client that saw it before would. Default 0. */
  afterId?: number;
  /** Stops reading (without a problem) when it aborts: a client that leaves. */
  signal?: AbortSignal;
  /** Wait between reconnects in ms. Default 100. */
  retryMs?: number;
}

/** What a followed stream saw, beyond its {@linkcode StreamCheck}. */
export interface FollowResult extends StreamCheck {
  /** The terminal event's type, if it came. */
  terminal: string | undefined;
  /** The id of the last event seen. */
  lastId: number;
  /** The longest time between two events (or a connect and the first event) in ms. */
  longestSilenceMs: number;
  /** From the first connect to the terminal event (or giving up), in ms. */
  elapsedMs: number;
  /** Whether the job said it was resumed after its process stopped. */
  resumed: boolean;
}

/** The streamed text of each step (and section), after resets. */
class StreamedText {
  readonly #text = new Map<string, string>();

  apply(data: { step?: string; index?: number; text?: string; reset?: boolean }): void {
    const key = `${data.step}:${data.index ?? ""}`;
    if (data.reset) this.#text.set(key, "");
    else this.#text.set(key, (this.#text.get(key) ?? "") + (data.text ?? ""));
  }

  styled(): string | undefined {
    return this.#text.get("style:");
  }
}

/** The checks of one followed stream, event by event, across its connections. */
class StreamChecker {
  readonly result: FollowResult;
  /** Text before `afterId` was not seen, so the article can be compared only from the start. */
  readonly #text: StreamedText | undefined;
  #lastEventAt = performance.now();

  constructor(id: string, afterId: number) {
    this.result = {
      jobId: id,
      problems: [],
      articleMatches: undefined,
      reconnects: 0,
      terminal: undefined,
      lastId: afterId,
      longestSilenceMs: 0,
      elapsedMs: 0,
      resumed: false,
    };
    this.#text = afterId === 0 ? new StreamedText() : undefined;
  }

  problem(what: string): void {
    if (this.result.problems.length < 5) this.result.problems.push(what);
  }

  /** Checks one event; returns whether it was the terminal one. */
  take(event: SseEvent): boolean {
    const result = this.result;
    const now = performance.now();
    result.longestSilenceMs = Math.max(result.longestSilenceMs, now - this.#lastEventAt);
    this.#lastEventAt = now;
    const eventId = Number(event.id);
    if (result.terminal !== undefined) {
      this.problem(`event ${event.id} (${event.event}) after the terminal ${result.terminal}`);
      return false;
    }
    if (eventId <= result.lastId) this.problem(`duplicate id ${eventId} after ${result.lastId}`);
    else if (eventId !== result.lastId + 1) this.problem(`gap: ${result.lastId} → ${eventId}`);
    result.lastId = Math.max(result.lastId, eventId);
    const data = JSON.parse(event.data);
    if (event.event === "delta") this.#text?.apply(data);
    if (event.event === "status" && data.resumed === true) result.resumed = true;
    if (!TERMINAL.has(event.event)) return false;
    result.terminal = event.event;
    if (event.event === "complete" && this.#text) {
      result.articleMatches = this.#text.styled()?.trim() === data.article;
    }
    return true;
  }
}

/** Follows job `id`; the check is also pushed to `ledger.streams`. */
export async function followJob(
  ledger: Ledger,
  baseUrl: () => string,
  id: string,
  options: FollowOptions,
): Promise<FollowResult> {
  const began = performance.now();
  const checker = new StreamChecker(id, options.afterId ?? 0);
  const result = checker.result;
  let connections = 0;
  while (result.terminal === undefined && !options.signal?.aborted) {
    if (performance.now() > options.deadline) {
      checker.problem(`no terminal event by the deadline (last id ${result.lastId})`);
      break;
    }
    connections++;
    const headers: Record<string, string> = result.lastId > 0
      ? { "last-event-id": String(result.lastId) }
      : {};
    // Ends this connection at the deadline, when the client leaves, or soon after a terminal
    // event (the service should end it at once; anything it sends meanwhile is a problem).
    const connection = new AbortController();
    const giveUp = setTimeout(() => connection.abort(), options.deadline - performance.now());
    let linger: ReturnType<typeof setTimeout> | undefined;
    const leave = () => connection.abort();
    options.signal?.addEventListener("abort", leave, { once: true });
    try {
      const response = await ledger.request(
        `${baseUrl()}/api/jobs/${id}/events`,
        { headers, signal: connection.signal },
        "GET events",
      );
      if (response instanceof Response && response.status === 404) {
        await response.body?.cancel();
        checker.problem("the job is gone (404)");
        break;
      }
      if (!(response instanceof Response) || !response.ok || !response.body) {
        if (response instanceof Response) await response.body?.cancel();
      } else {
        // `giveUp` bounds this connection; readSse's own bound would count as a drop.
        for await (const event of readSse(response.body, { timeoutMs: Infinity })) {
          if (event.comment !== undefined || event.event === "shutdown") continue;
          if (checker.take(event)) linger = setTimeout(() => connection.abort(), 2_000);
        }
      }
    } catch {
      // Dropped: the service died, or this client left.
    } finally {
      clearTimeout(giveUp);
      clearTimeout(linger);
      options.signal?.removeEventListener("abort", leave);
    }
    if (result.terminal === undefined && !options.signal?.aborted) {
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? 100));
    }
  }
  result.reconnects = Math.max(0, connections - 1);
  result.elapsedMs = performance.now() - began;
  ledger.streams.push(result);
  return result;
}
