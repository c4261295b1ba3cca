/**
 * A cheap SSE watcher for benchmarks that hold thousands of streams: it records when each event
 * id arrived and counts heartbeat comments, without building event objects. It reads only the
 * `id:` and `: ping` lines, which is all the fan-out and idle-stream figures need.
 *
 * @module
 */

const ID_LINE = /^id: (\d+)$/gm;
const PING_LINE = /^: ping$/gm;

/** One open event stream and what arrived on it. */
export class StreamWatcher {
  /** Arrival time (performance.now()) of each event id; NaN where it has not arrived. */
  readonly arrivals: Float64Array;
  /** Heartbeat comments received. */
  pings = 0;
  /** Event ids received, duplicates included. */
  events = 0;
  /** Resolves once the first `id:` line has arrived. */
  readonly firstEvent: Promise<void>;
  /** Resolves when the stream ends (or fails: see `error`). */
  readonly ended: Promise<void>;
  /** Why the stream failed, if it did. */
  error: unknown;
  readonly #abort = new AbortController();

  /** Opens `url` and starts reading; ids above `maxId` are counted but not timed. */
  constructor(url: string, maxId = 1_024) {
    this.arrivals = new Float64Array(maxId + 1).fill(NaN);
    const first = Promise.withResolvers<void>();
    this.firstEvent = first.promise;
    this.ended = this.#read(url, first.resolve).catch((error) => {
      this.error = error;
      first.resolve();
    });
  }

  /** Closes the stream from the client side. */
  close(): void {
    this.#abort.abort();
  }

  async #read(url: string, onFirst: () => void): Promise<void> {
    const response = await fetch(url, { signal: this.#abort.signal });
    if (!response.ok || !response.body) throw new Error(`GET ${url}: ${response.status}`);
    const decoder = new TextDecoder();
    let carry = "";
    try {
      for await (const chunk of response.body) {
        const now = performance.now();
        const text = carry + decoder.decode(chunk, { stream: true });
        const end = text.lastIndexOf("\n");
        carry = text.slice(end + 1);
        const lines = text.slice(0, end + 1);
        for (const match of lines.matchAll(ID_LINE)) {
          const id = Number(match[1]);
          this.events++;
          if (id < this.arrivals.length && Number.isNaN(this.arrivals[id])) this.arrivals[id] = now;
          onFirst();
        }
        PING_LINE.lastIndex = 0;
        while (PING_LINE.exec(lines) !== null) this.pings++;
      }
    } catch (error) {
      if (!this.#abort.signal.aborted) throw error;
    }
  }
}

/** Opens `count` watchers of `url` at most `batch` at a time, each waiting for its first event. */
export async function openWatchers(
  url: string,
  count: number,
  batch = 250,
): Promise<StreamWatcher[]> {
  const watchers: StreamWatcher[] = [];
  for (let i = 0; i < count; i += batch) {
    const group = Array.from({ length: Math.min(batch, count - i) }, () => new StreamWatcher(url));
    await Promise.all(group.map((w) => w.firstEvent));
    watchers.push(...group);
  }
  return watchers;
}
