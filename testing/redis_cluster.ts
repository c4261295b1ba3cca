/**
 * Test and benchmark support for the shared store: a throw-away `redis-server` on a free
 * loopback port, and service instances run as subprocesses of `main.ts`, as operators run them,
 * each from a clean environment ({@linkcode childEnv}). Everything started here must be stopped
 * and awaited (`stop`, `kill`) by the caller.
 *
 * @module
 */

import { childEnv } from "./child_env.ts";

const ROOT = new URL("../", import.meta.url);
const MAIN = new URL("main.ts", ROOT).pathname;

/** Whether Debian's `redis-server` can be run here. */
export async function hasRedisServer(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("redis-server", {
      args: ["--version"],
      clearEnv: true,
      env: childEnv(),
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * A loopback port nothing listened on a moment ago: only a candidate, since anything may take it
 * before it is used; {@linkcode RedisServer.start} tries another when it was.
 */
function candidatePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** Collects a child's output as text while it runs. */
class OutputTail {
  text = "";
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>, onText?: (text: string) => void) {
    this.done = (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.text += chunk;
        onText?.(this.text);
      }
    })().catch(() => {});
  }
}

/** How long a `redis-server` may take to say it is ready: a hang detector, not a speed test. */
const REDIS_READY_TIMEOUT_MS = 30_000;

/**
 * A `redis-server` with AOF persistence in a directory of its own.
 *
 * It cannot listen on port 0 and tell which port it got, so it is started on a port free a moment
 * before, and on another one when that was taken in between (by another test run on the same
 * machine, say). Ready means its own log says it accepts connections: a PING could be answered by
 * whichever server won that port.
 */
export class RedisServer {
  /** Where it keeps its files. */
  readonly dir: string;
  /** When the AOF is fsynced: after every write, or once a second. */
  readonly appendfsync: "always" | "everysec";
  #port: number;
  #child: Deno.ChildProcess | undefined;
  #output: OutputTail | undefined;

  private constructor(port: number, dir: string, appendfsync: "always" | "everysec") {
    this.#port = port;
    this.dir = dir;
    this.appendfsync = appendfsync;
  }

  /** Its port on 127.0.0.1. */
  get port(): number {
    return this.#port;
  }

  /** Its process id while it runs, for benchmarks reading its CPU time. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.#port}`;
  }

  /**
   * Starts a server in a new directory under `parent` and waits until it accepts connections;
   * `appendfsync` says when its AOF reaches the disk.
   */
  static async start(
    parent = ".test-output",
    appendfsync: "always" | "everysec" = "everysec",
  ): Promise<RedisServer> {
    await Deno.mkdir(parent, { recursive: true });
    const server = new RedisServer(0, await Deno.makeTempDir({ dir: parent }), appendfsync);
    const tried: number[] = [];
    while (tried.length < 5) {
      server.#port = candidatePort();
      tried.push(server.#port);
      if (await server.#spawn()) return server;
    }
    await Deno.remove(server.dir, { recursive: true }).catch(() => {});
    throw new Error(`redis-server found every port it tried taken: ${tried.join(", ")}`);
  }

  /** Stops the server (`SIGTERM` saves the AOF; `SIGKILL` does not) and waits for its exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    await child.status;
    await this.#output?.done;
  }

  /** Starts it again on the same port and directory, as after a Redis restart. */
  async restart(): Promise<void> {
    await this.stop();
    if (!(await this.#spawn())) {
      throw new Error(
        `redis-server cannot restart: port ${this.#port} was taken while it was down`,
      );
    }
  }

  /** Stops it and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Starts the process; false when its port was taken, so that another one can be tried. */
  async #spawn(): Promise<boolean> {
    const child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(this.#port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        this.appendfsync,
      ],
      clearEnv: true,
      env: childEnv(),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const { promise: ready, resolve } = Promise.withResolvers<boolean>();
    // Redis logs to stdout; "Ready to accept connections" follows the bind and the AOF load.
    const output = new OutputTail(child.stdout, (text) => {
      if (/Ready to accept connections/.test(text)) resolve(true);
    });
    child.stderr.cancel().catch(() => {});
    child.status.then(() => resolve(false));
    const timer = setTimeout(() => resolve(false), REDIS_READY_TIMEOUT_MS);
    const started = await ready;
    clearTimeout(timer);
    if (started) {
      this.#child = child;
      this.#output = output;
      return true;
    }
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.status;
    await output.done;
    if (/Address already in use/.test(output.text)) return false;
    throw new Error(
      `redis-server did not start on port ${this.#port} within ${REDIS_READY_TIMEOUT_MS} ms:\n` +
        output.text,
    );
  }
}

/** One structured log line of an instance. */
export interface LogLine {
  time: string;
  level: string;
  msg: string;
  job?: string;
  [field: string]: unknown;
}

/** A service instance: `deno run main.ts --port 0 <args>`. */
export class Instance {
  /** Where it serves, such as `http://127.0.0.1:41234`. */
  readonly url: string;
  /** A name for messages. */
  readonly name: string;
  readonly #child: Deno.ChildProcess;
  readonly #stdout: OutputTail;
  readonly #stderr: OutputTail;
  #exited = false;

  private constructor(
    name: string,
    url: string,
    child: Deno.ChildProcess,
    stdout: OutputTail,
    stderr: OutputTail,
  ) {
    this.name = name;
    this.url = url;
    this.#child = child;
    this.#stdout = stdout;
    this.#stderr = stderr;
  }

  /** Runs `main.ts` with `args` and waits for its "running at" line. */
  static async start(name: string, args: readonly string[]): Promise<Instance> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        MAIN,
        "--port",
        "0",
        ...args,
      ],
      cwd: ROOT.pathname,
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: childEnv(),
    }).spawn();
    const { promise: listening, resolve } = Promise.withResolvers<string | null>();
    const stdout = new OutputTail(child.stdout, (text) => {
      const match = /running at (http:\/\/\S+)/.exec(text);
      if (match) resolve(match[1] as string);
    });
    const stderr = new OutputTail(child.stderr);
    child.status.then(() => resolve(null));
    const url = await listening;
    if (url === null) {
      await Promise.all([child.status, stdout.done, stderr.done]);
      throw new Error(`${name} did not start: ${stderr.text}`);
    }
    return new Instance(name, url, child, stdout, stderr);
  }

  /** Runs `main.ts` with `args` to its end, for start-up failures. */
  static async runToExit(args: readonly string[]): Promise<{ code: number; stderr: string }> {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", "--allow-env", "--allow-read", MAIN, "--port", "0", ...args],
      cwd: ROOT.pathname,
      stdout: "null",
      stderr: "piped",
      clearEnv: true,
      env: childEnv(),
    }).output();
    return { code, stderr: new TextDecoder().decode(stderr) };
  }

  /** Its JSON log lines so far. */
  logs(): LogLine[] {
    return this.#stderr.text.split("\n").flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
  }

  /** Whether it logged `msg` for `job`. */
  logged(msg: string, job: string): boolean {
    return this.logs().some((line) => line.msg === msg && line.job === job);
  }

  /** Sends `signal` and waits for the process to end. */
  /** Stops it dead (SIGSTOP) or lets it go on (SIGCONT), as an event loop that stalls would. */
  freeze(frozen: boolean): void {
    if (!this.#exited) this.#child.kill(frozen ? "SIGSTOP" : "SIGCONT");
  }

  async kill(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    if (!this.#exited) {
      this.#exited = true;
      try {
        this.#child.kill(signal);
      } catch {
        // already gone
      }
    }
    await this.#child.status;
    await Promise.all([this.#stdout.done, this.#stderr.done]);
  }
}

/** Stops every instance and the server, whatever happened; for `finally` blocks. */
export async function stopAll(
  instances: readonly (Instance | undefined)[],
  redis?: RedisServer,
): Promise<void> {
  await Promise.allSettled(instances.map((instance) => instance?.kill("SIGKILL")));
  await redis?.destroy();
}
