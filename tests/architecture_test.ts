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
