import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { helpText, parseCommand, whereJobsAre } from "../src/cli.ts";
import { loadConfig, SETTINGS } from "../src/config.ts";
import { InterruptGate } from "../src/interrupts.ts";
import { ProgressBar } from "../src/progress_bar.ts";
import { startTaskFlags } from "./service_process.ts";
import { makeTestDir } from "./test_dir.ts";

function quillflow(args: string[]): Deno.Command {
  // The generate task has the same permissions as the start task.
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...startTaskFlags(), "main.ts", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { LOG_LEVEL: "warn" },
  });
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("quillflow generate writes Markdown to stdout and plain progress lines to stderr", async () => {
  const { code, stdout, stderr } = await quillflow(
    ["generate", "tea ceremonies", "--offline-delay-ms", "0"],
  ).output();
  const err = decode(stderr);
  assert.equal(code, 0, err);
  const article = decode(stdout);
  assert.match(article, /^# tea ceremonies: a friendly guide\n/);
  assert.match(article, /\n## What tea ceremonies is\n/);
  assert.doesNotMatch(article, /\d+% step/, "no progress on stdout");
  // stderr is a pipe here: lines, no carriage returns or escape codes.
  assert.ok(!err.includes("\r") && !err.includes("\x1b["), err);
  assert.match(err, / 33% step 1\/3 outline: 3 sections planned \(\d+\.\ds\)\n/);
  assert.match(err, /100% step 3\/3 done/);
});

Deno.test("quillflow generate --out writes the article to a file", async () => {
  await using dir = await makeTestDir("cli-out");
  const file = `${dir.path}/tea.md`;
  const { code, stdout, stderr } = await quillflow(
    ["generate", "green tea", "--out", file, "--offline-delay-ms", "0"],
  ).output();
  assert.equal(code, 0, decode(stderr));
  assert.equal(decode(stdout), "");
  assert.match(await Deno.readTextFile(file), /^# green tea: a friendly guide/);
  assert.match(decode(stderr), /article written to/);
});

Deno.test("Ctrl-C during quillflow generate cancels and exits non-zero", async () => {
  const child = quillflow(["generate", "slow tea", "--offline-delay-ms", "5000"]).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let err = "";
  // Wait until the outline call is in flight.
  while (!err.includes("outline: planning")) {
    const { value, done } = await stderr.read();
    if (done) break;
    err += value;
  }
  const started = performance.now();
  child.kill("SIGINT");
  for (let r = await stderr.read(); !r.done; r = await stderr.read()) err += r.value;
  const { code } = await child.status;
  const stdout = await new Response(child.stdout).text();
  assert.equal(code, 130, err);
  assert.equal(stdout, "");
  assert.match(err, /quillflow: cancelled; no article was written\n$/);
  // The 5 s LLM call was cancelled, not waited for.
  assert.ok(performance.now() - started < 3_000, "exited promptly");
});

Deno.test("one Ctrl-C delivered twice is one interrupt; a later one is another", () => {
  const gate = new InterruptGate();
  assert.equal(gate.classify(10_000), "first");
  assert.equal(gate.classify(10_001), "repeat");
  assert.equal(gate.classify(10_249), "repeat");
  assert.equal(gate.classify(10_250), "again");
  assert.equal(gate.classify(60_000), "again");
});

Deno.test("quillflow --version, --help and bad arguments", async (t) => {
  await t.step("--version prints the version of deno.json", async () => {
    const { code, stdout } = await quillflow(["--version"]).output();
    assert.equal(code, 0);
    assert.equal(decode(stdout), `quillflow ${denoJson.version}\n`);
  });
  await t.step("--help names both commands and the store settings", async () => {
    const { code, stdout } = await quillflow(["--help"]).output();
    assert.equal(code, 0);
    const text = decode(stdout);
    for (const expected of ["quillflow [serve]", "quillflow generate", "--store", "--data-dir"]) {
      assert.ok(text.includes(expected), expected);
    }
  });
  await t.step("--help shows each default as it would be typed, meaning the default", () => {
    const text = helpText("0.0.0");
    assert.match(text, /JOB_TTL .*\[1h\]/);
    assert.doesNotMatch(text, /3600000/);
    let checked = 0;
    for (const [name, key, , fallback] of SETTINGS) {
      const shown = new RegExp(`^  --\\S+ +${name} .*\\[([^\\]]*)\\]$`, "m").exec(text)?.[1];
      if (shown === undefined) continue;
      const { config } = loadConfig((env) => env === name ? shown : undefined);
      assert.deepEqual(config[key], fallback, `${name} [${shown}]`);
      checked++;
    }
    assert.ok(checked >= 15, `only ${checked} defaults found in --help`);
  });
  await t.step("parseCommand() reads commands, topics and flags", () => {
    const none = () => undefined;
    assert.equal(parseCommand([], none).kind, "serve");
    assert.equal(parseCommand(["--port", "0"], none).kind, "serve");
    const generate = parseCommand(["generate", "--store", "memory", "tea", "-o", "x.md"], none);
    assert.ok(generate.kind === "generate");
    assert.equal(generate.topic, "tea");
    assert.equal(generate.out, "x.md");
    assert.equal(generate.config.store, "memory");
    assert.throws(() => parseCommand(["generate"], none), /needs a topic/);
    assert.throws(() => parseCommand(["generate", "a", "b"], none), /quote it/);
    assert.throws(() => parseCommand(["--nope"], none), /Unknown flag: --nope/);
    assert.throws(() => parseCommand(["serve", "--store", "disk"], none), /STORE must be one of/);
  });
  await t.step("a bad argument exits with status 2 and a short message", async () => {
    const { code, stderr } = await quillflow(["generate"]).output();
    assert.equal(code, 2);
    assert.match(decode(stderr), /^quillflow: generate needs a topic/);
  });
});

Deno.test("the start line says where each store keeps the jobs, never a Redis password", () => {
  const where = (vars: Record<string, string>) => {
    const env = (name: string) => vars[name];
    const command = parseCommand([], env);
    assert.ok(command.kind === "serve");
    return whereJobsAre(command.config, env);
  };
  assert.equal(where({ STORE: "memory" }), "jobs kept in memory only");
  assert.equal(where({ DATA_DIR: "/srv/quillflow" }), "jobs kept in /srv/quillflow");
  assert.equal(
    where({ STORE: "redis", REDIS_URL: "redis://user:secret@127.0.0.1:6390/3" }),
    "jobs shared through Redis at redis://127.0.0.1:6390/3",
  );
});

Deno.test("ProgressBar redraws one line on a terminal and prints lines elsewhere", () => {
  let now = 0;
  const tty: string[] = [];
  const bar = new ProgressBar({ write: (t) => tty.push(t), tty: true, now: () => now, width: 10 });
  bar.start();
  now = 2_500;
  bar.update({
    id: 5,
    type: "progress",
    data: { step: "content", progress: 55, completed: 2, total: 3 },
  });
  bar.stop("done");
  assert.equal(tty[1], "\r\x1b[2K██████░░░░  55% step 2/3 content: 2/3 sections written · 2.5s");
  assert.ok(tty.at(-1)?.endsWith("· 2.5s\n"));
  assert.ok(tty.at(-1)?.includes("done"));
});
