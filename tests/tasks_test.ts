import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { SETTINGS } from "../src/config.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { hasRedisServer, RedisServer } from "../testing/redis_cluster.ts";
import { CTRL_C, plain, PtyProcess } from "./pty.ts";
import { makeTestDir } from "./test_dir.ts";

const SET = "quillflow";
const KINDS = ["read", "write", "net", "env", "run", "ffi", "sys", "import"] as const;
/** The tasks that run the app; each must use the permission set and never prompt. */
const APP_TASKS = ["start", "dev", "generate", "start:redis", "compile"] as const;

type Grant = boolean | string[] | { allow?: boolean | string[]; deny?: boolean; ignore?: boolean };

const permissionSet = (denoJson as { permissions?: Record<string, Record<string, Grant>> })
  .permissions?.[SET];

const allowed = (list: readonly string[], name: string) =>
  list.some((entry) => entry.endsWith("*") ? name.startsWith(entry.slice(0, -1)) : entry === name);

/** Every variable name `src/` reads by a literal name (`env("HOME")`, `Deno.env.get("X")`). */
async function namesReadInSrc(): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  // src/ is folders by concept: read them all.
  const dirs = ["src"];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) dirs.push(`${dir}/${entry.name}`);
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      const text = await Deno.readTextFile(`${dir}/${entry.name}`);
      for (const match of text.matchAll(/\b(?:env|Deno\.env\.get)\("([A-Za-z][A-Za-z0-9_]*)"\)/g)) {
        names.set(match[1] as string, entry.name);
      }
    }
  }
  return names;
}

Deno.test("the quillflow permission set grants what config.ts and src/ read, and decides every kind", async (t) => {
  assert.ok(permissionSet, `deno.json has a permission set named "${SET}"`);
  const env = permissionSet.env as { allow: string[]; ignore?: boolean };

  await t.step("every setting in config.ts's table is an allowed variable", () => {
    const missing = SETTINGS.map(([name]) => name).filter((name) => !allowed(env.allow, name));
    assert.deepEqual(missing, [], "settings the set does not let the app read");
  });

  await t.step("every variable src/ reads by name is allowed", async () => {
    const read = await namesReadInSrc();
    assert.ok(read.has("HOME"), "the scan finds data_dir.ts's reads");
    const missing = [...read].filter(([name]) => !allowed(env.allow, name));
    assert.deepEqual(missing, [], "variables read in src/ that the set does not allow");
  });

  await t.step("nothing is allowed that nothing reads (least privilege)", async () => {
    const read = await namesReadInSrc();
    const settings = SETTINGS.map(([name]) => name as string);
    const stale = env.allow.filter((entry) =>
      entry.endsWith("*")
        // A prefix is granted for a setting's family: OPENAI_* lets the SDK read its own.
        ? !settings.some((name) => allowed([entry], name))
        : !settings.includes(entry) && !read.has(entry)
    );
    assert.deepEqual(stale, []);
  });

  await t.step("every kind is allowed, denied or ignored, so none can prompt", () => {
    // Libraries read variables of their own (NODE_ENV, DEBUG_*; the debug package enumerates
    // the environment): with `ignore` they read as unset instead of prompting or throwing.
    assert.equal(env.ignore, true);
    for (const kind of KINDS) {
      const grant = permissionSet[kind];
      const decided = grant === true ||
        (typeof grant === "object" && !Array.isArray(grant) &&
          (grant.deny === true || (kind === "env" && grant.ignore === true)));
      assert.ok(decided, `${kind}: ${JSON.stringify(grant)} can still prompt`);
    }
    // msgpackr (BullMQ) falls back to JavaScript when its native addon may not load.
    assert.deepEqual(permissionSet.ffi, { deny: true });
  });

  await t.step("each task that runs the app uses the set, with prompts off", () => {
    const tasks = denoJson.tasks as Record<string, string>;
    for (const name of APP_TASKS) {
      const words = tasks[name]?.split(/\s+/) ?? [];
      assert.ok(words.includes(`-P=${SET}`), `${name}: ${tasks[name]}`);
      assert.ok(words.includes("--no-prompt"), `${name}: ${tasks[name]}`);
      assert.ok(!words.some((w) => /^--allow-|^-A$/.test(w)), `${name} adds its own grants`);
    }
  });
});

/** Copies what a clone holds of the app (no node_modules) into `dest`. */
async function copyProject(dest: string): Promise<void> {
  const copy = async (from: string, to: string): Promise<void> => {
    const info = await Deno.stat(from);
    if (!info.isDirectory) return await Deno.copyFile(from, to);
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      await copy(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  };
  await Deno.mkdir(dest, { recursive: true });
  for (const path of ["main.ts", "deno.json", "deno.lock", "package.json", "src", "static"]) {
    await copy(path, `${dest}/${path}`);
  }
}

/** Runs one article through the service at `url` and returns its last event's type. */
async function runJob(url: string, topic: string): Promise<string | undefined> {
  const response = await fetch(`${url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic }),
  });
  const job = await response.json() as { id: string };
  assert.equal(response.status, 202, JSON.stringify(job));
  const events = await collectEvents(`${url}/api/jobs/${job.id}/events`, {
    signal: AbortSignal.timeout(120_000),
  });
  return events.at(-1)?.event;
}

const START_LINE = /running at (http:\/\/\S+) \(provider: offline; ([^)]+)\)/;

Deno.test("every task serves in a terminal with no permission prompt, on every store", async (t) => {
  assert.ok(
    await hasRedisServer(),
    "redis-server is needed for the Redis mode runs (bash .ci/run installs it)",
  );
  await using dir = await makeTestDir("tasks");
  await Deno.mkdir(`${dir.path}/home`);
  await copyProject(`${dir.path}/project`);
  const home = await Deno.realPath(`${dir.path}/home`);
  const project = await Deno.realPath(`${dir.path}/project`);
  const redis = await RedisServer.start(dir.path);

  /** Runs `deno task <args>` in a terminal, runs a job through it, then presses Ctrl-C. */
  const serve = async (args: string[], env: Record<string, string>, where: string | RegExp) => {
    await using pty = await PtyProcess.spawn(
      [Deno.execPath(), "task", ...args, "--port", "0", "--offline-delay-ms", "0"],
      { cwd: project, home, env },
    );
    const [, url, shown] = await pty.waitFor(START_LINE);
    if (typeof where === "string") assert.equal(shown, where);
    else assert.match(shown as string, where);
    assert.equal(await runJob(url as string, `tea for ${args[0]}`), "complete");
    await pty.type(CTRL_C);
    const code = await pty.exit();
    const text = plain(pty.output);
    // The service's own word that its shutdown ran to the end is what "cleanly" means. The
    // status is `deno task`'s: it reports 130 (ended by SIGINT) when its copy of the Ctrl-C
    // arrives before the child has exited, 0 otherwise (130 seen once in a full CI run).
    assert.match(text, /"msg":"stopped"/, `a Ctrl-C stops the service cleanly:\n${text}`);
    assert.ok(
      code === 0 || code === 130,
      `deno task ends 0 or 130 on Ctrl-C, not ${code}:\n${text}`,
    );
    assert.doesNotMatch(text, /Ignored build scripts|approve-scripts/);
    assert.doesNotMatch(text, /NotCapable|Requires \w+ access/);
    return text;
  };

  try {
    await t.step(
      "first start of a fresh copy: no build-script warning, sqlite in HOME",
      async () => {
        const text = await serve(
          ["start"],
          {},
          `jobs kept in ${home}/.local/share/quillflow`,
        );
        assert.match(text, /Initialize/, "the first start installed the npm packages");
      },
    );
    await t.step("start, STORE=memory", async () => {
      await serve(["start"], { STORE: "memory" }, "jobs kept in memory only");
    });
    await t.step("start, STORE=redis", async () => {
      await serve(
        ["start"],
        { STORE: "redis", REDIS_URL: redis.url },
        `jobs shared through Redis at ${redis.url}`,
      );
    });
    await t.step("start:redis", async () => {
      await serve(
        ["start:redis"],
        { REDIS_URL: redis.url },
        `jobs shared through Redis at ${redis.url}`,
      );
    });
    await t.step("start:redis, REUSE_PORT=1 (the task has --unstable-net)", async () => {
      await serve(
        ["start:redis"],
        { REDIS_URL: redis.url, REUSE_PORT: "1" },
        `jobs shared through Redis at ${redis.url}`,
      );
    });
    await t.step("dev, STORE=memory", async () => {
      await serve(["dev"], { STORE: "memory" }, "jobs kept in memory only");
    });
  } finally {
    await redis.destroy();
  }
});
