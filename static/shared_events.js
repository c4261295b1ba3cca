/**
 * One event stream for everything the page shows, shared by every tab of this origin.
 *
 * Browsers allow six HTTP/1.1 connections per origin, and each open stream holds one. So one tab,
 * the leader (whoever holds the Web Lock `quillflow-events`), reads `GET /api/events?jobs=…` for
 * the jobs every tab wants, and passes each event on to the others over a `BroadcastChannel`. Ten
 * tabs hold one stream. When the leader closes, the lock passes to another tab, which asks every
 * tab what it wants and opens the stream again. Without Web Locks (a page not served from a
 * secure context) or BroadcastChannel, each tab is its own leader.
 *
 * Every tab applies a job's events strictly in order (event ids 1, 2, 3, … per job): an event
 * that is not the next one is set aside and the tab asks again, and the leader, which keeps the
 * events of every job it follows from the first, sends them again. So a tab that opens a job
 * midway, or a new leader, never loses or doubles text.
 *
 * The stream is read with `fetch`, not `EventSource`, so it can send `Authorization` (an
 * `API_TOKEN`) and `Last-Event-ID` (the cursor of the last frame, which resumes every job of the
 * stream at once after a dropped connection).
 *
 * @module
 */

const LOCK = "quillflow-events";
const CHANNEL = "quillflow-events";
const TERMINAL = new Set(["complete", "error", "cancelled"]);
/** The most jobs `/api/events` takes in one list. */
const MAX_LISTED = 100;

/**
 * Reads an event-stream body (the server's framing: LF line ends), calling `onFrame` with each
 * event's `id`, `event` and `data`. Resolves when the body ends.
 * @param {ReadableStream<Uint8Array>} body
 * @param {(frame: { id: string, event: string, data: string }) => void} onFrame
 */
async function readFrames(body, onFrame) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let id = "";
  let event = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n")) !== -1) {
      let line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (data.length > 0) onFrame({ id, event: event || "message", data: data.join("\n") });
        event = "";
        data = [];
        continue;
      }
      const colon = line.indexOf(":");
      if (colon === 0) continue; // a comment: the heartbeat
      const field = colon === -1 ? line : line.slice(0, colon);
      let text = colon === -1 ? "" : line.slice(colon + 1);
      if (text.startsWith(" ")) text = text.slice(1);
      if (field === "data") data.push(text);
      else if (field === "event") event = text;
      else if (field === "id") id = text;
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/**
 * The leader's side: the stream, and every event of the jobs it follows, from the first, to send
 * again to a tab that needs them.
 */
class Leader {
  /**
   * @param {{ stream: (path: string, headers: Record<string, string>, signal: AbortSignal)
   *   => Promise<Response>, getJob: (id: string) => Promise<unknown> }} api
   * @param {(message: Record<string, unknown>) => void} emit sends to every tab, this one too
   */
  constructor(api, emit) {
    this.api = api;
    this.emit = emit;
    /** @type {Map<string, Map<string, number>>} tab → (job → last event id it has) */
    this.wants = new Map();
    /** @type {Map<string, { events: object[], last: number, ended: boolean }>} */
    this.cache = new Map();
    /** @type {{ jobs: Set<string>, controller: AbortController } | null} */
    this.connection = null;
  }

  /** Tab `tab` now wants these jobs, each after the event id given. */
  setWants(tab, wants) {
    this.wants.set(tab, wants);
    for (const [job, after] of wants) this.replay(job, after);
    this.plan();
  }

  /** Tab `tab` is gone. */
  drop(tab) {
    this.wants.delete(tab);
  }

  /** Sends again what the leader holds of `job` after event `after`. */
  replay(job, after) {
    const cached = this.cache.get(job);
    if (!cached) return;
    for (const message of cached.events) if (message.eventId > after) this.emit(message);
  }

  /** Opens the stream again when a wanted job is not in it. */
  plan() {
    const wanted = new Set();
    for (const wants of this.wants.values()) for (const job of wants.keys()) wanted.add(job);
    // What no tab wants any more is forgotten.
    for (const job of this.cache.keys()) if (!wanted.has(job)) this.cache.delete(job);
    const live = [...wanted].filter((job) => !this.cache.get(job)?.ended).slice(0, MAX_LISTED);
    const open = this.connection;
    if (live.length === 0 || (open && live.every((job) => open.jobs.has(job)))) return;
    this.connect(live);
  }

  /** Follows `jobs`: each one it holds from where it is, the others from their first event. */
  async connect(jobs) {
    this.connection?.controller.abort();
    const controller = new AbortController();
    const connection = { jobs: new Set(jobs), controller };
    this.connection = connection;
    const list = jobs.map((job) => {
      const last = this.cache.get(job)?.last ?? 0;
      return last > 0 ? `${job}:${last}` : job;
    }).join(",");
    const path = `/api/events?jobs=${list}`;
    let cursor = null;
    let failures = 0;
    while (this.connection === connection) {
      try {
        const headers = cursor === null ? {} : { "last-event-id": cursor };
        const response = await this.api.stream(path, headers, controller.signal);
        if (response.status === 404 || response.status === 400) {
          // A job is gone (evicted, or the server forgot it), or the server cannot resume: find
          // out which jobs still exist and start again from what is held.
          await response.body?.cancel();
          await this.recheck(jobs);
          await sleep(1_000, controller.signal);
          if (this.connection !== connection) return;
          this.connection = null;
          this.plan();
          return;
        }
        if (!response.ok || !response.body) throw new Error(`status ${response.status}`);
        failures = 0;
        this.emit({ kind: "state", state: "open" });
        await readFrames(response.body, (frame) => {
          if (frame.event === "shutdown") {
            this.emit({ kind: "state", state: "restarting" });
            return;
          }
          const { job, eventId, ...data } = JSON.parse(frame.data);
          cursor = frame.id;
          this.deliver(job, eventId, frame.event, data);
        });
        // The server ends the stream once every job has ended, or when it stops.
        if (jobs.every((job) => this.cache.get(job)?.ended)) {
          if (this.connection === connection) this.connection = null;
          this.plan();
          return;
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      if (this.connection !== connection) return;
      this.emit({ kind: "state", state: "reconnecting" });
      await sleep(Math.min(30_000, 1_000 * 2 ** failures++), controller.signal);
    }
  }

  /** Keeps `message` and sends it to every tab. */
  deliver(job, eventId, type, data) {
    let cached = this.cache.get(job);
    if (!cached) this.cache.set(job, cached = { events: [], last: 0, ended: false });
    if (eventId !== cached.last + 1) return; // held already, or not the next: never out of order
    const message = { kind: "event", job, eventId, type, data };
    cached.events.push(message);
    cached.last = eventId;
    if (TERMINAL.has(type)) cached.ended = true;
    this.emit(message);
  }

  /** Tells every tab about the jobs of `jobs` the server no longer has, then follows the rest. */
  async recheck(jobs) {
    for (const job of jobs) {
      try {
        await this.api.getJob(job);
      } catch (error) {
        if (error?.status !== 404) continue;
        for (const wants of this.wants.values()) wants.delete(job);
        this.cache.delete(job);
        this.emit({ kind: "gone", job });
      }
    }
  }
}

/**
 * A tab's side: says what it wants, hears every event. Each tab makes one.
 */
export class SharedEvents {
  /**
   * @param {object} options
   * @param {{ stream: Function, getJob: Function }} options.api
   * @param {() => Map<string, number>} options.wants the jobs this tab shows, each with the last
   *   event id it has applied
   * @param {(job: string, eventId: number, type: string, data: object) => void} options.onEvent
   * @param {(state: "open" | "reconnecting" | "restarting") => void} options.onState
   * @param {(job: string) => void} options.onGone a job the server no longer has
   */
  constructor({ api, wants, onEvent, onState, onGone }) {
    this.api = api;
    this.wantsNow = wants;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onGone = onGone;
    this.tab = crypto.randomUUID();
    /** @type {Leader | null} */
    this.leader = null;
    const shared = typeof BroadcastChannel === "function" && Boolean(navigator.locks);
    this.channel = shared ? new BroadcastChannel(CHANNEL) : null;
    this.channel?.addEventListener("message", (event) => this.hear(event.data));
    addEventListener("pagehide", () => this.channel?.postMessage({ kind: "bye", tab: this.tab }));
    if (shared) {
      // Held until the tab goes: whoever gets it next leads.
      navigator.locks.request(LOCK, () => {
        this.lead();
        return new Promise(() => {});
      });
    } else {
      this.lead();
    }
  }

  /** Says again what this tab wants (after it opened a job, or its list changed). */
  update() {
    const wants = this.wantsNow();
    if (this.leader) this.leader.setWants(this.tab, wants);
    else this.channel?.postMessage({ kind: "want", tab: this.tab, jobs: [...wants] });
  }

  /** Whether this tab holds the stream. */
  get leading() {
    return this.leader !== null;
  }

  lead() {
    this.leader = new Leader(this.api, (message) => {
      this.hear(message);
      this.channel?.postMessage(message);
    });
    // Tabs that followed the last leader say what they want, with what they have.
    this.channel?.postMessage({ kind: "hello" });
    this.update();
  }

  hear(message) {
    switch (message?.kind) {
      case "event":
        this.onEvent(message.job, message.eventId, message.type, message.data);
        break;
      case "state":
        this.onState(message.state);
        break;
      case "gone":
        this.onGone(message.job);
        break;
      case "hello":
        this.update();
        break;
      case "want":
        this.leader?.setWants(message.tab, new Map(message.jobs));
        break;
      case "bye":
        this.leader?.drop(message.tab);
        break;
    }
  }
}
