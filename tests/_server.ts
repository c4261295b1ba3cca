/**
 * Starts the real service on a free loopback port for a test, with the offline writer and quiet
 * logs unless told otherwise.
 *
 * @module
 */

import { loadConfig } from "../src/config.ts";
import { type RunningServer, type StartOptions, startServer } from "../src/server.ts";

/** Starts the service with `flags` (e.g. `["--offline-delay-ms", "0"]`) on port 0. */
export async function startTestServer(
  flags: string[] = [],
  options: StartOptions = {},
): Promise<RunningServer> {
  const { config } = loadConfig(() => undefined, [
    "--port",
    "0",
    "--log-level",
    "silent",
    "--shutdown-grace-ms",
    "0",
    "--offline-delay-ms",
    "0",
    ...flags,
  ]);
  return await startServer(config, options);
}

/** Submits `topic` and returns the job snapshot. */
export async function submit(
  base: string,
  topic: string,
  headers: Record<string, string> = {},
): Promise<
  { id: string; [key: string]: unknown }
> {
  const response = await fetch(`${base}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ topic }),
  });
  const body = await response.json();
  if (response.status !== 202) {
    throw new Error(`submit answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body;
}

/**
 * Polls `check` every 50 ms until it gives a truthy value, and returns it; the bound only turns a
 * hang into a failure.
 */
export async function waitForValue<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls `check` every 10 ms until it returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
