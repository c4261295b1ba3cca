import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";

/**
 * The layers of `src/`, lowest first (see docs/architecture.md). A folder imports only from
 * itself and from folders of lower layers, so no folder imports one above it and no two folders
 * import each other. The files at the top of `src/` are the composition root: they may import
 * anything, and nothing in a folder imports them.
 */
const LAYERS: readonly (readonly string[])[] = [
  ["core"],
  ["llm", "store", "api"],
  ["workflow", "client", "idempotency", "webhooks"],
  ["jobs"],
  ["http", "mcp", "cli"],
];
const ROOT = "(root)";
/** Lines a file in src/ may have at most: one concept per file. */
const MAX_LINES = 400;

const layerOf = new Map(LAYERS.flatMap((folders, layer) => folders.map((f) => [f, layer])));

async function sourceFiles(dir = "src"): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...await sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** The folder under src/ a path belongs to, or ROOT for a file at the top of src/. */
function folderOf(path: string): string {
  const parts = relative("src", path).split("/");
  return parts.length === 1 ? ROOT : parts[0] as string;
}

/** The relative specifiers a file imports, comments (and so doc examples) left out. */
function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found = code.matchAll(
    /(?:\bimport|\bexport)\s[^;]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']|\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  );
  return [...found].map((m) => (m[1] ?? m[2]) as string);
}

Deno.test("src/ is layered: no folder imports one above it, none imports the root", async () => {
  const files = await sourceFiles();
  const folders = new Set(files.map(folderOf));
  for (const folder of folders) {
    if (folder !== ROOT) assert.ok(layerOf.has(folder), `folder src/${folder} has no layer`);
  }
  const wrong: string[] = [];
  for (const file of files) {
    const from = folderOf(file);
    if (from === ROOT) continue;
    for (const specifier of importsOf(await Deno.readTextFile(file))) {
      const target = join(dirname(file), specifier);
      if (!target.startsWith("src/")) continue; // deno.json, static/
      const to = folderOf(target);
      if (to === from) continue;
      if (to === ROOT || (layerOf.get(to) as number) >= (layerOf.get(from) as number)) {
        wrong.push(`${file} imports ${target} (${from} -> ${to})`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("the import scan sees static, re-exported and dynamic imports, not comments", () => {
  const text = `import { a } from "../jobs/a.ts";
export { b } from "./b.ts";
const c = await import("../store/c.ts");
/**
 * import { d } from "../http/d.ts";
 */
// import { e } from "../http/e.ts";`;
  assert.deepEqual(importsOf(text), ["../jobs/a.ts", "./b.ts", "../store/c.ts"]);
});

Deno.test(`no file in src/ is over ${MAX_LINES} lines`, async () => {
  const long: string[] = [];
  for (const file of await sourceFiles()) {
    const lines = (await Deno.readTextFile(file)).split("\n").length;
    if (lines > MAX_LINES) long.push(`${file}: ${lines}`);
  }
  assert.deepEqual(long, []);
});

/**
 * The plain `Map`s and `Set`s in src/ that may hold objects: none holds one per job or stream
 * for longer than a batch (see `src/core/releasing_map.ts` and docs/architecture.md, "Memory a
 * job leaves behind"). Each says why it may.
 */
const PLAIN_COLLECTIONS: Record<string, string> = {
  "src/core/releasing_map.ts #cells": "its cells, emptied as they leave",
  "src/http/router.ts #static": "the routes, built once",
  "src/http/metrics.ts #tokens": "one per model",
  "src/http/static_assets.ts STATIC_ASSETS": "the page's files, built once",
  "src/http/static_assets.ts etags": "one per file of the page",
  "src/llm/http_connections.ts #idle": "one per LLM origin",
  "src/store/memory_job_store.ts #watchersOfAll": "one per stream of every job: a few",
  "src/store/job_watchers.ts #ofAll": "one per stream of every job: a few",
  "src/store/redis_watchers.ts #allWatchers": "one per stream of every job: a few",
  "src/store/sqlite_job_store.ts #records": "one batch: a new map after each commit",
  "src/store/sqlite_job_store.ts #events": "one batch: a new map after each commit",
  "src/workflow/flow.ts #successors": "one flow's nodes, built once",
};

/** Type arguments that hold no object: a collection of these keeps nothing alive. */
const PRIMITIVE_TYPES = /^(string|number|boolean|JobStatus|StepName|StepName\[\]|string\[\])$/;

/** The plain collections `text` creates as class fields or module constants, with their types. */
function plainCollectionsOf(text: string): { name: string; typeArgs: string | undefined }[] {
  const found: { name: string; typeArgs: string | undefined }[] = [];
  // A class field (`#x` or `readonly x`, indented) or a module constant (not indented): a local
  // variable inside a function lives as long as the call.
  const pattern =
    /^(?:\s+(?:readonly\s+)?(#\w+)|\s+readonly\s+(\w+)|(?:export\s+)?(?:const|let)\s+(\w+))\s*(?::[^=\n]+)?=\s*new (?:Map|Set)(?:<(.+?)>)?\(/gm;
  for (const match of text.matchAll(pattern)) {
    found.push({ name: (match[1] ?? match[2] ?? match[3]) as string, typeArgs: match[4] });
  }
  return found;
}

Deno.test("long-lived collections hold no job: a plain Map or Set of objects in src/ says why it may", async () => {
  const unexplained: string[] = [];
  for (const file of await sourceFiles()) {
    for (const { name, typeArgs } of plainCollectionsOf(await Deno.readTextFile(file))) {
      // Of primitives only, or a constant written out in full (`new Set(["a", "b"])`).
      const args = typeArgs?.split(",").map((arg) => arg.trim());
      if (args?.every((arg) => PRIMITIVE_TYPES.test(arg))) continue;
      if (typeArgs === undefined && /^[A-Z_]+$/.test(name)) continue;
      const key = `${file} ${name}`;
      if (!(key in PLAIN_COLLECTIONS)) unexplained.push(`${key}: new Map/Set<${typeArgs ?? ""}>`);
    }
  }
  assert.deepEqual(unexplained, [], "use ReleasingMap, or say in PLAIN_COLLECTIONS why not");
});

Deno.test("the collection scan finds fields and constants, with their type arguments", () => {
  const text = `class A {
  readonly #runs = new Map<string, Run>();
  #batch = new Set<string>();
}
const keys = new Map<StepName, string[]>();
export const NAMES: ReadonlySet<string> = new Set(["a"]);
function f() {
  const local = new Map<string, Run>();
}`;
  assert.deepEqual(plainCollectionsOf(text), [
    { name: "#runs", typeArgs: "string, Run" },
    { name: "#batch", typeArgs: "string" },
    { name: "keys", typeArgs: "StepName, string[]" },
    { name: "NAMES", typeArgs: undefined },
  ]);
});
