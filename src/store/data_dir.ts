/**
 * Where Quillflow keeps its data when `DATA_DIR` is not set: the per-user data folder of the
 * platform, so a laptop install needs no setup and never writes into the working directory.
 *
 * @module
 */

/**
 * The default data directory for `os`, from the environment lookup `env`.
 *
 * @example
 * ```ts
 * import { defaultDataDir } from "./data_dir.ts";
 * import assert from "node:assert/strict";
 *
 * const env = (name: string) => ({ HOME: "/home/ada" })[name];
 * assert.equal(defaultDataDir(env, "linux"), "/home/ada/.local/share/quillflow");
 * assert.equal(defaultDataDir(env, "darwin"), "/home/ada/Library/Application Support/quillflow");
 * ```
 */
export function defaultDataDir(
  env: (name: string) => string | undefined,
  os: typeof Deno.build.os = Deno.build.os,
): string {
  if (os === "windows") {
    const base = env("LOCALAPPDATA") ||
      (env("USERPROFILE") ? `${env("USERPROFILE")}\\AppData\\Local` : undefined);
    if (!base) throw new TypeError("Cannot find a data folder: set DATA_DIR or LOCALAPPDATA");
    return `${base}\\quillflow`;
  }
  const home = env("HOME");
  if (os === "darwin") {
    if (!home) throw new TypeError("Cannot find a data folder: set DATA_DIR or HOME");
    return `${home}/Library/Application Support/quillflow`;
  }
  // XDG base directories: a relative XDG_DATA_HOME is invalid and ignored.
  const xdg = env("XDG_DATA_HOME");
  if (xdg && xdg.startsWith("/")) return `${xdg}/quillflow`;
  if (!home) throw new TypeError("Cannot find a data folder: set DATA_DIR, XDG_DATA_HOME or HOME");
  return `${home}/.local/share/quillflow`;
}
