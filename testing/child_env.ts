/**
 * The environment every child process of the tests starts with, in place of the developer's:
 * without it, a developer's `OPENAI_API_KEY` would make a test service call (and pay) OpenAI,
 * `API_TOKEN` would lock the tests out, and `STORE` or `DATA_DIR` would point them at real data.
 * Pass it with `clearEnv: true`.
 *
 * @module
 */

/**
 * The `HOME` of every child: an empty folder of the test output, so a child that falls back to
 * a per-user folder (the sqlite store's default data folder) writes there and not into the
 * user's. A child that keeps data is still given its own `--data-dir` or `--store memory`.
 */
export const CHILD_HOME: string = new URL("../.test-output/home", import.meta.url).pathname;

/** Deno's cache folder for this process: `DENO_DIR`, else Deno's per-platform default. */
function denoDir(): string {
  const env = (name: string) => Deno.env.get(name) || undefined;
  const set = env("DENO_DIR");
  if (set) return set;
  const home = env("HOME") ?? env("USERPROFILE") ?? "";
  switch (Deno.build.os) {
    case "darwin":
      return `${home}/Library/Caches/deno`;
    case "windows":
      return `${env("LOCALAPPDATA") ?? `${home}\\AppData\\Local`}\\deno`;
    default: {
      const xdg = env("XDG_CACHE_HOME");
      return `${xdg?.startsWith("/") ? xdg : `${home}/.cache`}/deno`;
    }
  }
}

// Read once: a test that changes this process's HOME must not move the children's cache.
const DENO_DIR = denoDir();

/**
 * `PATH`, `HOME` (see {@linkcode CHILD_HOME}), the Deno cache in use and `NO_COLOR`, then
 * `extra`; nothing else of this process's environment.
 *
 * @example
 * ```ts
 * import { CHILD_HOME, childEnv } from "./child_env.ts";
 * import assert from "node:assert/strict";
 *
 * const env = childEnv({ LOG_LEVEL: "warn" });
 * assert.equal(env.HOME, CHILD_HOME);
 * assert.equal(env.LOG_LEVEL, "warn");
 * assert.equal(env.OPENAI_API_KEY, undefined);
 * ```
 */
export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  Deno.mkdirSync(CHILD_HOME, { recursive: true });
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: CHILD_HOME,
    // The cache this process uses, so a child neither downloads nor compiles anything again;
    // left to itself it would look under the new HOME.
    DENO_DIR,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...extra,
  };
}
