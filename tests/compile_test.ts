/**
 * `deno compile` downloads its runtime (denort) from the internet. `DENORT_BIN` pointed at the
 * installed `deno` builds the whole payload offline instead: the module graph, the embedded page
 * and npm packages, and the permissions the binary will run with. The result is the `deno` CLI
 * with the payload attached, so it does not run the app; what the payload holds is read back
 * from the file instead. Nothing here is skipped: with `DENORT_BIN` no step needs a network.
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { makeTestDir } from "./test_dir.ts";

/** The compile task's flags, with its output pointed at `output`. */
function compileArgs(output: string): string[] {
  const words = denoJson.tasks.compile.split(/\s+/);
  assert.equal(words.slice(0, 2).join(" "), "deno compile");
  const at = words.indexOf("--output");
  assert.notEqual(at, -1, "the compile task names its output");
  assert.equal(words[at + 1], "dist/quillflow");
  words[at + 1] = output;
  return words.slice(1);
}

/** The permissions part of a standalone binary's metadata, as deno 2.9 writes it. */
interface BakedPermissions {
  allow_env: string[] | null;
  ignore_env: string[] | null;
  allow_net: string[] | null;
  allow_read: string[] | null;
  allow_write: string[] | null;
  deny_ffi: string[] | null;
  deny_run: string[] | null;
  deny_sys: string[] | null;
  deny_import: string[] | null;
  prompt: boolean;
}

/** The binary's metadata: the JSON object deno appends after its `d3n0l4nd` section marker. */
async function readMetadata(path: string): Promise<Record<string, unknown>> {
  const bytes = await Deno.readFile(path);
  // The runtime part is the deno executable itself; the payload follows it.
  const start = (await Deno.stat(Deno.execPath())).size;
  const text = new TextDecoder("latin1").decode(bytes.subarray(start));
  const at = text.indexOf('{"argv":');
  assert.notEqual(at, -1, "the payload has its metadata");
  // The object ends where its braces balance (strings may hold braces).
  let depth = 0;
  let inString = false;
  for (let i = at; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      return JSON.parse(new TextDecoder().decode(bytes.subarray(start + at, start + i + 1)));
    }
  }
  throw new Error("the metadata never ends");
}

Deno.test("deno task compile builds a payload with the quillflow permission set, every store included", async (t) => {
  await using dir = await makeTestDir("compile");
  const output = `${dir.path}/quillflow`;
  const built = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(output),
    env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = new TextDecoder().decode(built.stderr) + new TextDecoder().decode(built.stdout);
  assert.ok(built.success, log);
  const info = await Deno.stat(output);
  assert.ok(info.isFile && info.size > 1_000_000, `${output} is a non-empty executable`);
  const metadata = await readMetadata(output);
  const binary = new TextDecoder("latin1").decode(await Deno.readFile(output));

  await t.step("the binary runs with the set's permissions and never prompts", () => {
    const set = denoJson.permissions.quillflow;
    const baked = metadata.permissions as BakedPermissions;
    assert.deepEqual(baked.allow_env, set.env.allow);
    // An empty list is the whole kind: every other variable reads as unset, and so on.
    assert.deepEqual(baked.ignore_env, []);
    assert.deepEqual(baked.allow_net, []);
    assert.deepEqual(baked.allow_read, []);
    assert.deepEqual(baked.allow_write, []);
    assert.deepEqual(baked.deny_ffi, []);
    assert.deepEqual(baked.deny_run, []);
    assert.deepEqual(baked.deny_sys, []);
    assert.deepEqual(baked.deny_import, []);
    assert.equal(baked.prompt, false);
  });

  await t.step("the binary runs with --unstable-net, so REUSE_PORT=1 can listen", () => {
    const unstable = metadata.unstable_config as { features?: string[] } | undefined;
    assert.deepEqual(unstable?.features, ["net"]);
  });

  await t.step(
    "the payload holds main.ts, the Redis mode's modules, the checkpoint worker and npm packages",
    () => {
      assert.equal(metadata.entrypoint_key, "main.ts");
      // Read from the binary, not the build log, which folds a folder of src/ into `store/*`: each
      // module's own class, which no other module's text holds.
      for (const name of ["RedisJobStore", "BullmqDispatcher", "SqliteJobStore"]) {
        assert.ok(binary.includes(`class ${name}`), `${name}'s module is embedded`);
      }
      assert.match(log, /static/);
      // A Worker's module is not in the graph `deno compile` follows from main.ts: the task must
      // include it, or the binary's store checkpoints on the main thread (and says so in health).
      assert.ok(
        binary.includes("The Worker that checkpoints the SQLite store's write-ahead log"),
        "the WAL checkpoint worker's module is embedded",
      );
      assert.ok(metadata.node_modules, "npm packages (bullmq, ioredis) are embedded");
    },
  );
});
