/**
 * The tests' services see none of the developer's settings: not a key that would make them call
 * (and pay) a real model, not a token, store or data folder. The developer's environment is
 * played here by variables set in this process.
 */

import assert from "node:assert/strict";
import { CHILD_HOME, childEnv } from "../testing/child_env.ts";
import { Instance } from "../testing/redis_cluster.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer } from "./_server.ts";
import { startService } from "./service_process.ts";
import { makeTestDir } from "./test_dir.ts";

/** Runs `body` with `vars` set in this process's environment, then puts back what was there. */
async function withEnv(vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const before = Object.keys(vars).map((name) => [name, Deno.env.get(name)] as const);
  try {
    for (const [name, value] of Object.entries(vars)) Deno.env.set(name, value);
    await body();
  } finally {
    for (const [name, value] of before) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

/** Whether anything exists at `path`. */
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** A developer's settings, with its folders under `dir`. */
function developerEnv(dir: string): Record<string, string> {
  return {
    // Seen, any of these would make a job call a model, lock the API, or change the store.
    OPENAI_API_KEY: "sk-developer-key-must-not-reach-a-test",
    OPENAI_BASE_URL: "http://127.0.0.1:0/v1",
    LLM_PROVIDER: "openai",
    API_TOKEN: "developer-token",
    STORE: "redis",
    REDIS_URL: "redis://127.0.0.1:0",
    DATA_DIR: `${dir}/data-dir`,
    XDG_DATA_HOME: `${dir}/xdg-data`,
    HOME: `${dir}/home`,
  };
}

/**
 * Submits a job to `start()`'s service, without a token, and reads it to its end: offline, and
 * kept in none of the developer's folders.
 */
async function assertIsolated(
  dir: string,
  start: () => Promise<{ url: string; stop(): PromiseLike<void> }>,
): Promise<void> {
  const developer = developerEnv(dir);
  await withEnv(developer, async () => {
    const service = await start();
    try {
      const response = await fetch(`${service.url}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: "isolation" }),
      });
      const job = await response.json();
      assert.equal(response.status, 202, `API_TOKEN reached the service: ${JSON.stringify(job)}`);
      assert.equal(job.provider, "offline", "OPENAI_* or LLM_PROVIDER reached the service");
      const log = await collectEvents(`${service.url}/api/jobs/${job.id}/events`);
      assert.equal(log.at(-1)?.event, "complete");
    } finally {
      await service.stop();
    }
  });
  for (const path of [developer.DATA_DIR, developer.XDG_DATA_HOME, developer.HOME]) {
    assert.ok(!(await exists(path as string)), `the service wrote into the developer's ${path}`);
  }
}

Deno.test("services started by the tests ignore the developer's environment", async (t) => {
  await using dir = await makeTestDir("isolation");

  await t.step("childEnv() passes none of it on", async () => {
    const developer = developerEnv(`${dir.path}/env`);
    await withEnv(developer, () => {
      const env = childEnv();
      for (const name of Object.keys(developer)) {
        if (name !== "HOME") assert.equal(env[name], undefined, name);
      }
      assert.equal(env.HOME, CHILD_HOME);
      return Promise.resolve();
    });
  });

  await t.step("startService (the start task's process)", async () => {
    await assertIsolated(`${dir.path}/service`, async () => {
      const service = await startService(["--offline-delay-ms", "0", "--log-level", "warn"]);
      return { url: service.url, stop: () => service[Symbol.asyncDispose]() };
    });
  });

  await t.step("Instance.start (the multi-instance process)", async () => {
    await assertIsolated(`${dir.path}/instance`, async () => {
      const instance = await Instance.start("isolated", ["--offline-delay-ms", "0"]);
      return { url: instance.url, stop: () => instance.kill() };
    });
  });

  await t.step("startTestServer (in this process) reads no environment", async () => {
    await assertIsolated(`${dir.path}/in-process`, async () => {
      const server = await startTestServer();
      return { url: server.url, stop: () => server.shutdown() };
    });
  });
});
