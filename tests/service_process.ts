/**
 * Runs `main.ts` as a child process with exactly the permissions of the `start` task, as a user
 * would, so tests that kill it see what a real crash does.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { childEnv } from "../testing/child_env.ts";

/** The `deno run` flags of the `start` task: its permission set, `-P=quillflow --no-prompt`. */
export function startTaskFlags(): string[] {
  const words = denoJson.tasks.start.split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
}

/** A running service. */
export interface ServiceProcess extends AsyncDisposable {
  /** Where it listens. */
  readonly url: string;
  /** The child. */
  readonly child: Deno.ChildProcess;
  /** Everything it has written to stderr so far. */
  stderr(): string;
}

/**
 * Starts `main.ts serve` with `args` on a free port, from a clean environment
 * ({@linkcode childEnv}) plus `env`, and waits until it listens.
 */
export async function startService(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...startTaskFlags(), "main.ts", "serve", "--port", "0", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: childEnv(env),
  }).spawn();
  let errText = "";
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errText += chunk) }),
  );
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  let url: string | undefined;
  while (url === undefined) {
    const { value, done } = await lines.read();
    if (done) {
      await errDone;
      await child.status;
      throw new Error(`The service exited before listening:\n${out}\n${errText}`);
    }
    out += value;
    url = /running at (http:\/\/\S+)/.exec(out)?.[1];
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const outDone = (async () => {
    while (!(await lines.read()).done) { /* drain */ }
  })();
  return {
    url,
    child,
    stderr: () => errText,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await Promise.allSettled([outDone, errDone]);
    },
  };
}
