/**
 * The service as a child process on loopback, which can be killed and started again on the port
 * it had, where its clients expect it, as a supervisor (systemd, a container runtime) would. It starts
 * from the tests' clean environment ({@linkcode childEnv}): nothing of the caller's
 * (`OPENAI_API_KEY`, `STORE`, `DATA_DIR`, `HOME`) leaks in.
 *
 * @module
 */

import { childEnv } from "../../testing/child_env.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

/** Options for {@linkcode ServiceChild.start}. */
export interface ServiceChildOptions {
  /** A name for messages. */
  name: string;
  /** The port to listen on; 0 (the default) picks a free one. Restarts pass the port it got. */
  port?: number;
  /** `main.ts serve` flags, such as `["--data-dir", dir]`. */
  args: readonly string[];
  /** How long to wait for the "running at" line. Default 60 s. */
  timeoutMs?: number;
  /** Strings to count the stderr lines of, such as `"msg":"job resumed"`. */
  countLines?: readonly string[];
  /** Opens the V8 inspector on this loopback port, 0 for a free one (see `inspector.ts`). */
  inspectPort?: number;
}

/**
 * The last 16 KiB a child wrote to a stream, as text, collected as it runs, and how many of its
 * lines held each of some strings.
 */
class OutputTail {
  text = "";
  readonly counts = new Map<string, number>();
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>, watch: readonly string[]) {
    let partial = "";
    this.done = (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.text = (this.text + chunk).slice(-16_384);
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          for (const what of watch) {
            if (line.includes(what)) this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
          }
        }
      }
    })().catch(() => {});
  }
}

/** A running service child. */
export class ServiceChild {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The port of its V8 inspector, if it has one. */
  readonly inspectPort: number | undefined;
  /** Its process id (the Deno process itself). */
  readonly pid: number;
  readonly #child: Deno.ChildProcess;
  readonly #stderr: OutputTail;
  readonly #drained: Promise<unknown>;
  #exited = false;

  private constructor(
    url: string,
    inspectPort: number | undefined,
    child: Deno.ChildProcess,
    stderr: OutputTail,
    drained: Promise<unknown>,
  ) {
    this.url = url;
    this.port = Number(new URL(url).port);
    this.inspectPort = inspectPort;
    this.pid = child.pid;
    this.#child = child;
    this.#stderr = stderr;
    this.#drained = drained;
    child.status.then(() => this.#exited = true);
  }

  /** Starts `main.ts serve` and resolves once it listens. */
  static async start(options: ServiceChildOptions): Promise<ServiceChild> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...(options.inspectPort === undefined
          ? []
          : [`--inspect=127.0.0.1:${options.inspectPort}`]),
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        MAIN,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        String(options.port ?? 0),
        ...options.args,
      ],
      cwd: ROOT,
      clearEnv: true,
      env: childEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new OutputTail(child.stderr, options.countLines ?? []);
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    let url: string | undefined;
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, options.timeoutMs ?? 60_000);
    try {
      for (;;) {
        const { value, done } = await lines.read();
        if (done) {
          await stderr.done;
          await child.status;
          throw new Error(`${options.name} exited before listening:\n${out}\n${stderr.text}`);
        }
        out += value;
        url = /running at (http:\/\/\S+)/.exec(out)?.[1];
        if (url !== undefined) break;
      }
    } finally {
      clearTimeout(timer);
    }
    const outDone = (async () => {
      while (!(await lines.read()).done) { /* drain, so the child never blocks on a pipe */ }
    })().catch(() => {});
    // The inspector announces itself on stderr before the program runs; that pipe may lag.
    let inspectPort: number | undefined;
    for (let i = 0; options.inspectPort !== undefined && inspectPort === undefined; i++) {
      const match = /Debugger listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr.text);
      if (match) inspectPort = Number(match[1]);
      else if (i > 100) throw new Error(`${options.name} did not say where its inspector is`);
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return new ServiceChild(
      url as string,
      inspectPort,
      child,
      stderr,
      Promise.all([outDone, stderr.done]),
    );
  }

  /** Whether the process has ended. */
  get exited(): boolean {
    return this.#exited;
  }

  /** The end of what it wrote to stderr (its JSON log lines). */
  stderr(): string {
    return this.#stderr.text;
  }

  /** How many of its stderr lines so far held `what` (one of `countLines`). */
  linesWith(what: string): number {
    return this.#stderr.counts.get(what) ?? 0;
  }

  /** Sends `signal` (SIGKILL by default) and waits for the process to end. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    if (!this.#exited) {
      try {
        this.#child.kill(signal);
      } catch { /* already gone */ }
    }
    await this.#child.status;
    await this.#drained;
  }
}
