/**
 * Runs a command in a real pseudo-terminal through util-linux's `script`, as a person at a
 * shell runs it. Deno asks for a permission only where stdin and stderr are a terminal, so this
 * is where a missing permission shows. Stdin stays open, as a person's keyboard does: a prompt
 * would wait for an answer, and {@linkcode PtyProcess.waitFor} fails as soon as one shows.
 *
 * @module
 */

/** Text that only a Deno permission prompt prints. */
export const PERMISSION_PROMPT = /Deno requests|Allow\? \[y\/n/;

/** The Ctrl-C key, as a terminal sends it. */
export const CTRL_C = "\x03";

/** How long any awaited step may take before the test fails (a bound, not an expectation). */
const STEP_LIMIT_MS = 120_000;

// deno-lint-ignore no-control-regex
const ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** What a terminal's output reads as text: colours and cursor moves removed. */
export function plain(output: string): string {
  return output.replace(ESCAPES, "");
}

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

let denoDirCache: string | undefined;

/** Deno's cache folder, so a child with another `HOME` still finds the cached npm packages. */
async function denoDir(): Promise<string> {
  if (denoDirCache) return denoDirCache;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  denoDirCache = (JSON.parse(new TextDecoder().decode(stdout)) as { denoDir: string }).denoDir;
  return denoDirCache;
}

/** Where and with what a command runs. */
export interface PtyOptions {
  /** The folder to run in. */
  cwd: string;
  /** The user's home folder (the per-user data folder is under it); a test's own folder. */
  home: string;
  /** Variables besides `PATH`, `HOME`, `TERM` and `DENO_DIR`: nothing else is inherited. */
  env?: Record<string, string>;
}

/** A command running in a pseudo-terminal. */
export class PtyProcess implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #keys: WritableStreamDefaultWriter<Uint8Array>;
  readonly #read: Promise<void>;
  #output = "";
  #changed = Promise.withResolvers<void>();
  #exited = false;

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#keys = child.stdin.getWriter();
    this.#read = (async () => {
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        this.#output += text;
        this.#changed.resolve();
        this.#changed = Promise.withResolvers<void>();
      }
    })().catch(() => {});
    child.status.finally(() => {
      this.#exited = true;
      this.#changed.resolve();
    });
  }

  /** Starts `args` (a command and its arguments) in a new pseudo-terminal. */
  static async spawn(args: readonly string[], options: PtyOptions): Promise<PtyProcess> {
    const child = new Deno.Command("script", {
      // -q: no "Script started" lines; -e: exit with the command's status; -c: the command,
      // exec'd so that, as under an interactive shell's job control, no shell shares its
      // process group (a waiting `sh -c` takes Ctrl-C itself and reports 130).
      args: ["-qec", `exec ${args.map(quote).join(" ")}`, "/dev/null"],
      cwd: options.cwd,
      clearEnv: true,
      env: {
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
        HOME: options.home,
        TERM: "xterm-256color",
        DENO_DIR: await denoDir(),
        DENO_NO_UPDATE_CHECK: "1",
        ...options.env,
      },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    // script reports its own failures (a missing pty) on stderr.
    child.stderr.pipeTo(new WritableStream({ write: (chunk) => void chunk })).catch(() => {});
    return new PtyProcess(child);
  }

  /** Everything the terminal has shown so far, escape codes included. */
  get output(): string {
    return this.#output;
  }

  /** Types `text` on the terminal's keyboard. */
  async type(text: string): Promise<void> {
    await this.#keys.write(new TextEncoder().encode(text));
  }

  /**
   * Waits until the output (colours removed) matches `pattern`. Fails at once on a permission
   * prompt or when the command exits first, and after a generous time limit.
   */
  async waitFor(pattern: RegExp): Promise<RegExpExecArray> {
    let match: RegExpExecArray | null = null;
    await this.#until(`${pattern}`, (text) => {
      match = pattern.exec(text);
      if (!match && this.#exited) throw new Error(`Exited before showing ${pattern}:\n${text}`);
      return match !== null;
    });
    return match as unknown as RegExpExecArray;
  }

  /** Waits for the command to end and returns its exit code; fails on a permission prompt. */
  async exit(): Promise<number> {
    await this.#until("the end", () => this.#exited);
    await this.#read;
    this.#failOnPrompt(plain(this.#output));
    return (await this.#child.status).code;
  }

  /** Waits until `done` holds for the output so far, checking for a prompt at each change. */
  async #until(what: string, done: (text: string) => boolean): Promise<void> {
    const deadline = Date.now() + STEP_LIMIT_MS;
    while (true) {
      if (this.#exited) await this.#read;
      const text = plain(this.#output);
      this.#failOnPrompt(text);
      if (done(text)) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No ${what} within ${STEP_LIMIT_MS} ms:\n${text}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#changed.promise,
        new Promise<void>((resolve) => timer = setTimeout(resolve, left)),
      ]);
      clearTimeout(timer);
    }
  }

  #failOnPrompt(text: string): void {
    if (PERMISSION_PROMPT.test(text)) throw new Error(`A permission prompt showed:\n${text}`);
  }

  /** Ends the command if it still runs (its terminal closes, so what it started gets SIGHUP). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#keys.close().catch(() => {});
    if (!this.#exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await this.#child.status;
    await this.#read;
  }
}
