/**
 * Starts a server program as a child process and waits for the line that announces its URL, so
 * a benchmark can drive it over HTTP and read its CPU and memory from `/proc`.
 *
 * @module
 */

/** A running child server. */
export interface SpawnedServer {
  /** Its base URL, such as `http://127.0.0.1:41234`. */
  url: string;
  /** Its process id (the program itself: wrappers `exec` it). */
  pid: number;
  /** Sends SIGTERM and waits for the exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@linkcode spawnServer}. */
export interface SpawnOptions {
  /** Arguments after `deno`, such as `["run", "--allow-net", "main.ts", "--port", "0"]`. */
  args: string[];
  /** Open-files limit to run it with (through `bash -c 'ulimit -n N; exec …'`). */
  openFiles?: number;
  /** How long to wait for the URL line. Default 60 s. */
  timeoutMs?: number;
  /** Receives each line printed after the URL line (stdout is drained either way). */
  onLine?: (line: string) => void;
}

const URL_IN_LINE = /https?:\/\/[\w.\[\]:-]+/;

/**
 * Spawns `deno` with `options.args` and resolves once it prints a line holding an http URL.
 * Its stdout is drained after that; its stderr is inherited.
 */
export async function spawnServer(options: SpawnOptions): Promise<SpawnedServer> {
  const deno = Deno.execPath();
  const command = options.openFiles === undefined
    ? new Deno.Command(deno, { args: options.args, stdout: "piped", stderr: "inherit" })
    : new Deno.Command("bash", {
      args: [
        "-c",
        `ulimit -n ${options.openFiles} && exec "$0" "$@"`,
        deno,
        ...options.args,
      ],
      stdout: "piped",
      stderr: "inherit",
    });
  const child = command.spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let url: string | undefined;
  const deadline = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs ?? 60_000);
  try {
    while (url === undefined) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`deno ${options.args.join(" ")} exited before listening: ${seen}`);
      seen += value;
      url = URL_IN_LINE.exec(seen)?.[0];
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep reading so the child never blocks on a full pipe.
  const onLine = options.onLine;
  (async () => {
    // What followed the URL, less the rest of its line (which may not have arrived yet).
    let rest = seen.slice(seen.indexOf(url));
    let inUrlLine = true;
    for (;;) {
      if (onLine) {
        const complete = rest.split("\n");
        rest = complete.pop() ?? "";
        if (inUrlLine && complete.length > 0) {
          complete.shift();
          inUrlLine = false;
        }
        for (const line of complete) onLine(line);
      }
      const { value, done } = await lines.read();
      if (done) break;
      if (onLine) rest += value;
    }
  })().catch(() => {});
  const status = child.status;
  return {
    url,
    pid: child.pid,
    async stop(graceMs = 10_000) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* already gone */ }
          resolve();
        }, graceMs);
      });
      await Promise.race([status, killed]);
      clearTimeout(timer);
      await status;
    },
  };
}
