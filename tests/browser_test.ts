/**
 * The page at `/`, driven in a real headless Chromium through playwright-core: the service runs
 * in this process on port 0, the browser is Debian's `/usr/bin/chromium` (nothing is
 * downloaded). Skipped, loudly, when that binary is absent; `.ci/run` installs it.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Page, type Request } from "npm:playwright-core@1.65.1";
import { loadConfig } from "../src/config.ts";
import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";
import { OfflineWriter } from "../src/llm/offline_writer.ts";
import { type RunningServer, type StartOptions, startServer } from "../src/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUTPUT_DIR = ".test-output";
const TIMEOUT_MS = 20_000;

const chromiumPresent = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
if (!chromiumPresent) {
  console.error(
    `\n${
      "!".repeat(72)
    }\n!!! SKIPPED: chromium not found at ${CHROMIUM}; browser tests did not run.\n` +
      `!!! Install it (apt-get install chromium) or run .ci/run, which does.\n${"!".repeat(72)}\n`,
  );
}

// playwright-core keeps a pipe to the browser and timers of its own that outlive single ops,
// which the op and resource sanitizers would report; every browser and server is still
// closed in `finally`.
const browserTest = { ignore: !chromiumPresent, sanitizeOps: false, sanitizeResources: false };

/** A server and a browser with a fresh profile, all closed by `close()`. */
interface Harness {
  server: RunningServer;
  context: BrowserContext;
  close(): Promise<void>;
}

async function startHarness(flags: string[] = [], options: StartOptions = {}): Promise<Harness> {
  const { config } = loadConfig(() => undefined, [
    "--port",
    "0",
    "--offline-delay-ms",
    "300",
    "--log-level",
    "silent",
    "--shutdown-grace-ms",
    "0",
    ...flags,
  ]);
  const server = await startServer(config, options);
  const userDataDir = await Deno.makeTempDir({ prefix: "quillflow-chromium-" });
  try {
    // A persistent context owns the fresh profile dir (playwright refuses --user-data-dir in
    // `args`); it is deleted on close.
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      // Chromium keeps files under HOME (dconf, its caches): the profile folder is its HOME, so
      // nothing lands in the user's.
      env: {
        ...Deno.env.toObject(),
        HOME: userDataDir,
        XDG_CONFIG_HOME: `${userDataDir}/.config`,
        XDG_CACHE_HOME: `${userDataDir}/.cache`,
      },
      headless: true,
      baseURL: server.url,
      acceptDownloads: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
      ],
    });
    context.setDefaultTimeout(TIMEOUT_MS);
    return {
      server,
      context,
      async close() {
        try {
          await context.close();
        } finally {
          await server.shutdown(0);
          await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
        }
      },
    };
  } catch (error) {
    await server.shutdown(0);
    await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
    throw error;
  }
}

// Runs in the page before its own scripts (a string: this file is not type-checked for the DOM).
const RECORDER = `
  const trace = new Set();
  globalThis.__trace = trace;
  // Every progress value each row of the recent list showed, by job id.
  const progress = {};
  globalThis.__progress = progress;
  const record = () => {
    for (const row of document.querySelectorAll("#recent .recent-job[data-progress]")) {
      const seen = progress[row.dataset.id] ??= [];
      const value = Number(row.dataset.progress);
      if (seen.at(-1) !== value) seen.push(value);
    }
    for (const step of document.querySelectorAll("#steps [data-step]")) {
      trace.add(step.dataset.step + ":" + step.dataset.state);
    }
    const live = document.getElementById("live");
    const result = document.getElementById("result");
    if (live && !live.hidden && result && result.hidden && live.textContent.trim() !== "") {
      trace.add("streamed");
    }
    const outline = document.getElementById("outline");
    if (outline && outline.childElementCount > 0 && result && result.hidden) {
      trace.add("outline-before-article");
    }
    const connection = document.getElementById("connection");
    if (connection && !connection.hidden && connection.textContent.includes("Reconnecting")) {
      trace.add("reconnecting");
    }
  };
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(record).observe(document.body, {
      subtree: true, childList: true, attributes: true, characterData: true,
    });
  });
`;

/** Script errors and console errors of each page, which a test expects to be none. */
const problemsOf = new WeakMap<Page, string[]>();

/**
 * Opens a page that records, from the first byte, every step state, whether text was streamed
 * into the live view before the article appeared, and whether it ever said "Reconnecting". The recorder is injected over the
 * DevTools protocol, so the page's strict CSP stays in force for the page's own scripts.
 */
async function openPage(context: BrowserContext, path = "/"): Promise<Page> {
  const page = await context.newPage();
  const problems: string[] = [];
  problemsOf.set(page, problems);
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  await page.addInitScript({ content: RECORDER });
  await page.goto(path);
  await page.waitForSelector("html[data-ready=true]", { state: "attached" });
  return page;
}

function pageProblems(page: Page): string[] {
  return problemsOf.get(page) ?? [];
}

async function trace(page: Page): Promise<string[]> {
  return await page.evaluate(() =>
    [...(globalThis as unknown as { __trace: Set<string> }).__trace].sort()
  );
}

async function submitTopic(page: Page, topic: string): Promise<string> {
  await page.getByLabel("Topic").fill(topic);
  await page.getByRole("button", { name: "Write" }).click();
  await page.waitForURL(/[?&]job=[0-9a-f-]{36}/);
  return new URL(page.url()).searchParams.get("job") ?? "";
}

/**
 * Waits until the page shows `status` and, for an end, has applied the end event itself: a
 * finished job opened from its snapshot says `completed` before its replay has arrived.
 */
async function waitForStatus(page: Page, status: string): Promise<void> {
  await page.waitForSelector(`#job[data-status="${status}"]`);
  if (status === "completed") await page.locator("#result").waitFor({ state: "visible" });
  if (status === "failed" || status === "cancelled") {
    await page.locator("#error-box").waitFor({ state: "visible" });
  }
}

/** A TCP relay to `target` whose connections can all be cut at once, as a flaky network would. */
function startRelay(target: string) {
  const { hostname, port } = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const shut = (conn: Deno.Conn) => {
    if (!open.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // Already closed by the other side.
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect({ hostname, port: Number(port) }).catch(() => null);
      if (!upstream) {
        client.close();
        continue;
      }
      open.add(client);
      open.add(upstream);
      const done = () => [client, upstream].forEach(shut);
      client.readable.pipeTo(upstream.writable).catch(() => {}).finally(done);
      upstream.readable.pipeTo(client.writable).catch(() => {}).finally(done);
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    cutAll: () => [...open].forEach(shut),
    async close() {
      listener.close();
      [...open].forEach(shut);
      await accepting;
    },
  };
}

/**
 * The offline writer (300 ms a call, so streaming shows), except that while a topic is held its
 * sections stop halfway, their first half streamed, until the test lets them go: a mid-job state
 * that lasts as long as the test needs, however slow the machine. A cancel still ends them.
 */
class GatedWriter implements LlmClient {
  readonly provider = "offline";
  readonly model = null;
  readonly #offline = new OfflineWriter({ delayMs: 300 });
  readonly #instant = new OfflineWriter();
  readonly #gates = new Map<string, PromiseWithResolvers<void>>();

  /** Holds the sections of `topic`'s jobs halfway until the returned function is called. */
  hold(topic: string): () => void {
    const gate = Promise.withResolvers<void>();
    this.#gates.set(topic, gate);
    return () => {
      this.#gates.delete(topic);
      gate.resolve();
    };
  }

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    const gate = this.#gates.get(String(request.input.topic));
    if (!gate || request.purpose !== "section") {
      return await this.#offline.complete(request, options);
    }
    const text = await this.#instant.complete(request);
    const half = text.indexOf(" ", text.length / 2);
    options.onDelta?.(text.slice(0, half));
    await unlessAborted(gate.promise, options.signal);
    options.onDelta?.(text.slice(half));
    return text;
  }
}

async function unlessAborted(promise: Promise<void>, signal: AbortSignal | undefined) {
  if (!signal) return await promise;
  signal.throwIfAborted();
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.race([promise, aborted.promise]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** Waits until the page shows the first half of every section of a held job. */
async function waitForHalfway(page: Page, sections = 3): Promise<void> {
  // A locator, not waitForFunction: the page's CSP forbids the eval that would need.
  await page.locator("#live-sections .stream:not(:empty)").nth(sections - 1).waitFor();
}

/** Each section's streamed text is in the article, once: nothing lost or doubled. */
async function assertSectionsOnce(page: Page, article: string): Promise<void> {
  const sections = await page.locator("#live-sections .stream").allTextContents();
  assert.equal(sections.length, 3);
  for (const text of sections) {
    assert.equal(text.split("Most people meet").length, 2, `doubled or lost: ${text}`);
    assert.ok(article.includes(text.trim()), `not in the article: ${text}`);
  }
}

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(OUTPUT_DIR, { recursive: true });
  await page.screenshot({ path: `${OUTPUT_DIR}/${name}.png`, fullPage: true });
}

Deno.test("web page in headless Chromium", browserTest, async (t) => {
  const writer = new GatedWriter();
  const harness = await startHarness([], { llm: writer });
  const { context, server } = harness;
  try {
    await t.step("serves every asset itself under a strict CSP", async () => {
      const response = await fetch(`${server.url}/`);
      const csp = response.headers.get("content-security-policy") ?? "";
      await response.body?.cancel();
      assert.match(csp, /script-src 'self';/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      for (const name of ["app.js", "style.css", "marked.esm.js", "purify.es.mjs"]) {
        const asset = await fetch(`${server.url}/static/${name}`);
        await asset.body?.cancel();
        assert.equal(asset.status, 200, name);
        assert.equal(asset.headers.get("x-content-type-options"), "nosniff");
      }
      const missing = await fetch(`${server.url}/static/nope.js`);
      await missing.body?.cancel();
      assert.equal(missing.status, 404);
    });

    await t.step(
      "submit shows every step, the outline, streamed text, then the article",
      async () => {
        const page = await openPage(context);
        const id = await submitTopic(page, "Balcony tomatoes");
        assert.equal(await page.locator("#offline-banner").isVisible(), true);
        assert.match(await page.locator("#offline-banner").innerText(), /not an AI model/);
        await waitForStatus(page, "completed");
        const seen = await trace(page);
        for (const step of ["outline", "content", "style"]) {
          assert.ok(seen.includes(`${step}:running`), `${step} was never shown running: ${seen}`);
          assert.ok(seen.includes(`${step}:done`), `${step} was never shown done: ${seen}`);
        }
        assert.ok(seen.includes("streamed"), "no text streamed in before the article");
        assert.ok(
          seen.includes("outline-before-article"),
          "the outline came only with the article",
        );
        assert.equal(await page.locator("#progress").getAttribute("value"), "100");
        // Time per step; the offline writer is not a model and counts no tokens.
        for (const step of ["outline", "content", "style"]) {
          assert.match(
            await page.locator(`#steps [data-step="${step}"] .step-meta`).innerText(),
            /^\d+\.\d s$/,
          );
        }
        assert.match(await page.locator("#usage").innerText(), /no tokens \(offline demo writer\)/);
        assert.equal(await page.locator("#outline li").count(), 3);
        const heading = await page.locator("#article h1").innerText();
        assert.match(heading, /Balcony tomatoes/);
        assert.equal(await page.locator("#article h2").count() >= 3, true);
        const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
        assert.equal(snapshot.status, "completed");
        assert.equal(await page.locator("#cancel").isVisible(), false);
        await context.grantPermissions(["clipboard-read", "clipboard-write"], {
          origin: server.url,
        });
        await page.getByRole("button", { name: "Copy Markdown" }).click();
        await page.getByText("Copied the Markdown").waitFor();
        assert.equal(await page.evaluate("navigator.clipboard.readText()"), snapshot.article);
        const download = page.waitForEvent("download");
        await page.getByRole("button", { name: "Download .md" }).click();
        assert.equal((await download).suggestedFilename(), "balcony-tomatoes.md");
        assert.deepEqual(pageProblems(page), []);
        await screenshot(page, "page-finished");
        await page.setViewportSize({ width: 390, height: 844 });
        await screenshot(page, "page-finished-phone");
        await page.close();
      },
    );

    await t.step("reload mid-job resumes the same job without duplicated text", async () => {
      // Held halfway through its sections, the job is mid-way for as long as the test needs.
      const release = writer.hold("Reloading pages");
      try {
        const page = await openPage(context);
        const id = await submitTopic(page, "Reloading pages");
        await waitForHalfway(page);
        await page.reload();
        await page.waitForSelector("html[data-ready=true]", { state: "attached" });
        assert.equal(new URL(page.url()).searchParams.get("job"), id);
        await page.locator("#job-topic", { hasText: "Reloading pages" }).waitFor();
        await waitForHalfway(page);
        assert.equal(await page.locator("#job").getAttribute("data-status"), "running");
        release();
        await waitForStatus(page, "completed");
        const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
        // The styled text streamed into the live view is exactly the article: nothing doubled.
        const streamed = await page.locator("#live-style").textContent();
        assert.equal(streamed?.trim(), snapshot.article);
        await assertSectionsOnce(page, snapshot.article);
        assert.match(await page.locator("#article h1").innerText(), /Reloading pages/);
        assert.deepEqual(pageProblems(page), []);
        await page.close();
      } finally {
        release();
      }
    });

    await t.step(
      "a dropped connection resumes with Last-Event-ID, text neither lost nor doubled",
      async () => {
        const relay = startRelay(server.url);
        const release = writer.hold("Flaky networks");
        try {
          const page = await openPage(context, `${relay.url}/`);
          // The Last-Event-ID (a cursor) each stream request carried, "" for none.
          const resumedAfter: string[] = [];
          page.on("request", async (request: Request) => {
            if (!request.url().includes("/api/events")) return;
            resumedAfter.push((await request.allHeaders())["last-event-id"] ?? "");
          });
          const id = await submitTopic(page, "Flaky networks");
          await waitForHalfway(page);
          relay.cutAll();
          // Held, the job cannot end meanwhile: the new stream must resume mid-job.
          await waitUntil(
            "a stream resumes with Last-Event-ID",
            () => resumedAfter.some((cursor) => cursor !== ""),
          );
          release();
          await waitForStatus(page, "completed");
          assert.ok((await trace(page)).includes("reconnecting"), "never said Reconnecting");
          assert.equal(await page.locator("#connection").isVisible(), false);
          const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
          assert.equal((await page.locator("#live-style").textContent())?.trim(), snapshot.article);
          await assertSectionsOnce(page, snapshot.article);
          assert.match(await page.locator("#article h1").innerText(), /Flaky networks/);
          // The browser logs the cut stream as a failed load; nothing else may go wrong.
          const problems = pageProblems(page).filter((p) => !p.includes("net::ERR_INCOMPLETE"));
          assert.deepEqual(problems, []);
          await page.close();
        } finally {
          release();
          await relay.close();
        }
      },
    );

    await t.step("cancel stops a running job and says so", async () => {
      // Held, the job is still running when the click lands, however slow the machine.
      const release = writer.hold("Cancelled plans");
      try {
        const page = await openPage(context);
        const id = await submitTopic(page, "Cancelled plans");
        await waitForHalfway(page);
        const cancel = page.getByRole("button", { name: "Cancel", exact: true });
        await cancel.click();
        await waitForStatus(page, "cancelled");
        assert.match(await page.locator("#error-box").innerText(), /cancelled/);
        assert.equal(await cancel.isVisible(), false);
        assert.equal(await page.locator("#result").isVisible(), false);
        const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
        assert.equal(snapshot.status, "cancelled");
        await page.close();
      } finally {
        release();
      }
    });

    await t.step("two tabs on one job both complete", async () => {
      const first = await openPage(context);
      const id = await submitTopic(first, "Two tabs");
      const second = await openPage(context, `/?job=${id}`);
      await Promise.all([waitForStatus(first, "completed"), waitForStatus(second, "completed")]);
      const [a, b] = [
        await first.locator("#article").innerText(),
        await second.locator("#article")
          .innerText(),
      ];
      assert.equal(a, b);
      assert.match(a, /Two tabs/);
      await Promise.all([first.close(), second.close()]);
    });

    await t.step("recent jobs list; a click reopens a job and replays it", async () => {
      const page = await openPage(context);
      const recent = page.locator("#recent .recent-job");
      await recent.first().waitFor();
      const topics = await page.locator("#recent .recent-topic").allInnerTexts();
      for (const topic of ["Balcony tomatoes", "Reloading pages", "Cancelled plans", "Two tabs"]) {
        assert.ok(topics.includes(topic), `${topic} missing from ${topics}`);
      }
      assert.equal(topics[0], "Two tabs", "newest first");
      await page.locator("#recent .recent-job", { hasText: "Balcony tomatoes" }).click();
      await waitForStatus(page, "completed");
      assert.equal(await page.locator("#job-topic").innerText(), "Balcony tomatoes");
      assert.equal(await page.locator("#outline li").count(), 3);
      assert.match(await page.locator("#article h1").innerText(), /Balcony tomatoes/);
      await page.locator("#recent .recent-job", { hasText: "Cancelled plans" }).click();
      await waitForStatus(page, "cancelled");
      assert.equal(await page.locator("#job-topic").innerText(), "Cancelled plans");
      await page.goBack();
      await waitForStatus(page, "completed");
      assert.equal(await page.locator("#job-topic").innerText(), "Balcony tomatoes");
      await page.close();
    });

    await t.step(
      "works from the keyboard alone, with labelled fields and live progress",
      async () => {
        const page = await openPage(context);
        await page.keyboard.press("Tab"); // the skip link
        await page.keyboard.press("Tab");
        assert.equal(await page.evaluate("document.activeElement.id"), "topic");
        await page.keyboard.type("Keyboard only");
        await page.keyboard.press("Enter");
        await waitForStatus(page, "completed");
        assert.equal(await page.locator("#progress-label").getAttribute("aria-live"), "polite");
        assert.equal(await page.getByLabel("Topic", { exact: true }).count(), 1);
        // Recent jobs are buttons: reachable and opened with the keyboard.
        const other = page.locator("#recent .recent-job", { hasText: "Two tabs" });
        await other.focus();
        await page.keyboard.press("Enter");
        await page.locator("#job-topic", { hasText: "Two tabs" }).waitFor();
        await page.close();
      },
    );
  } finally {
    await harness.close();
  }
});

const HOSTILE = [
  "<script>window.pwned=1</script>",
  "",
  'Look: <img src=x onerror="window.pwned=1"> and [x](javascript:window.pwned=1).',
  "",
  '<iframe src="javascript:window.pwned=1"></iframe>',
].join("\n");

/** Writes a real outline, then sections and an article full of markup meant to run. */
class HostileWriter implements LlmClient {
  readonly provider = "hostile";
  readonly model = "hostile-test";
  readonly #offline = new OfflineWriter({ delayMs: 100 });

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    if (request.purpose === "outline") return await this.#offline.complete(request, options);
    const text = request.purpose === "style" ? `# Hostile\n\n${HOSTILE}` : HOSTILE;
    for (const part of text.match(/[\s\S]{1,12}/g) ?? []) options.onDelta?.(part);
    return text;
  }
}

Deno.test("web page renders a hostile article inertly", browserTest, async () => {
  const harness = await startHarness([], { llm: new HostileWriter() });
  try {
    const page = await openPage(harness.context);
    await submitTopic(page, "Hostile markup");
    await waitForStatus(page, "completed");
    assert.equal(await page.evaluate(() => "pwned" in globalThis), false);
    const article = page.locator("#article");
    assert.equal(await article.locator("script, img, iframe").count(), 0);
    assert.equal(await page.locator("img, iframe").count(), 0, "nothing injected anywhere");
    assert.equal(await page.locator("body script").count(), 0);
    assert.equal(await article.locator('a[href^="javascript" i]').count(), 0);
    const text = await article.innerText();
    assert.ok(text.includes("<script>window.pwned=1</script>"), text);
    assert.ok(text.includes('<img src=x onerror="window.pwned=1">'), text);
    assert.equal(await article.locator("h1").innerText(), "Hostile");
    // A model, not the offline writer: no offline banner.
    assert.equal(await page.locator("#offline-banner").isVisible(), false);
    await article.getByText("x", { exact: true }).click();
    assert.equal(await page.evaluate(() => "pwned" in globalThis), false);
    await screenshot(page, "page-hostile");
  } finally {
    await harness.close();
  }
});

Deno.test(
  "web page asks once for API_TOKEN and keeps it for the session",
  browserTest,
  async () => {
    const harness = await startHarness(["--api-token", "s3cret-token"]);
    try {
      const page = await openPage(harness.context);
      const tokenField = page.getByLabel("API token", { exact: true });
      await tokenField.waitFor({ state: "visible" });
      await tokenField.fill("wrong");
      await page.getByRole("button", { name: "Use token" }).click();
      await page.getByText("That token was not accepted").waitFor();
      await tokenField.fill("s3cret-token");
      await page.getByRole("button", { name: "Use token" }).click();
      const id = await submitTopic(page, "Locked doors");
      await waitForStatus(page, "completed");
      await page.reload();
      await page.waitForSelector("html[data-ready=true]", { state: "attached" });
      await waitForStatus(page, "completed");
      assert.equal(new URL(page.url()).searchParams.get("job"), id);
      assert.equal(await page.locator("#token-panel").isVisible(), false);
      assert.match(await page.locator("#article h1").innerText(), /Locked doors/);
    } finally {
      await harness.close();
    }
  },
);

/** Makes the page believe its tab went to the background (or came back), as a tab switch does. */
async function setHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate(`(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => ${hidden} });
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => ${hidden ? '"hidden"' : '"visible"'},
    });
    document.dispatchEvent(new Event("visibilitychange"));
  })()`);
}

async function waitUntil(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function openStreams(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^quillflow_sse_streams_open (\d+)$/m.exec(text)?.[1]);
}

Deno.test(
  "web page: ten tabs and 12 running jobs share one stream, and every tab shows every job live",
  browserTest,
  async () => {
    // Every job is held halfway (its outline done: 33%), all twelve running at once, until the
    // ten tabs are open and settled, however slow the machine.
    const writer = new GatedWriter();
    const topics = Array.from({ length: 12 }, (_, i) => `Shared ${i + 1}`);
    const releases = topics.map((topic) => writer.hold(topic));
    const harness = await startHarness(["--max-concurrent-jobs", "12"], { llm: writer });
    const { server, context } = harness;
    try {
      const ids: string[] = [];
      for (const topic of topics) {
        const response = await fetch(`${server.url}/api/jobs`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ topic }),
        });
        ids.push((await response.json()).id);
      }
      const pages: Page[] = [];
      for (let i = 0; i < 10; i++) {
        // Tab i shows job i; every tab's list shows all twelve.
        const page = await openPage(context, `/?job=${ids[i]}`);
        await waitForHalfway(page);
        await page.locator("#recent .recent-job").nth(11).waitFor();
        pages.push(page);
      }
      // Tabs in the background keep up too.
      for (const page of pages.slice(0, 5)) await setHidden(page, true);
      for (const page of pages) {
        for (const id of ids) {
          await page.locator(`#recent .recent-job[data-id="${id}"][data-progress="33"]`).waitFor();
        }
      }
      await waitUntil("one stream for the ten tabs", () => server.manager.stats().streams === 1);
      assert.equal(await openStreams(server.url), 1);

      let most = 0;
      const sampler = setInterval(() => {
        most = Math.max(most, server.manager.stats().streams);
      }, 20);
      try {
        for (const release of releases) release();
        for (const page of pages) {
          for (const id of ids) {
            await page.locator(
              `#recent .recent-job[data-id="${id}"][data-status="completed"][data-progress="100"]`,
            ).waitFor();
          }
          await waitForStatus(page, "completed");
        }
      } finally {
        clearInterval(sampler);
      }
      assert.ok(most <= 1, `ten tabs held ${most} streams at once`);

      for (const [i, page] of pages.entries()) {
        // Live, not from a reload of the list: each row went through the steps after halfway
        // (the list was read while every job stood at 33%).
        const progress = await page.evaluate("globalThis.__progress") as Record<string, number[]>;
        for (const id of ids) {
          assert.ok(
            progress[id]?.some((value) => value > 33 && value < 100),
            `tab ${i + 1} never showed job ${id} between halfway and done: ${progress[id]}`,
          );
        }
        assert.match(await page.locator("#article h1").innerText(), new RegExp(topics[i]!));
        assert.deepEqual(pageProblems(page), []);
      }
    } finally {
      for (const release of releases) release();
      await harness.close();
    }
  },
);

Deno.test(
  "web page: when the tab holding the stream closes, another takes it over mid-job",
  browserTest,
  async () => {
    const writer = new GatedWriter();
    const release = writer.hold("Handed over");
    const harness = await startHarness([], { llm: writer });
    const { server, context } = harness;
    try {
      // The first tab takes the lock and holds the stream; the second follows through it.
      const first = await openPage(context);
      const id = await submitTopic(first, "Handed over");
      await waitForHalfway(first);
      const second = await openPage(context, `/?job=${id}`);
      const opened: string[] = [];
      second.on("request", (request: Request) => {
        if (request.url().includes("/api/events")) opened.push(request.url());
      });
      await waitForHalfway(second);
      await waitUntil("one stream for both tabs", () => server.manager.stats().streams === 1);
      assert.deepEqual(opened, [], "the second tab follows through the first");
      await first.close();
      // The second tab opens the stream itself; it skips the events it has already shown.
      await waitUntil("the second tab to open the stream", () => opened.length > 0);
      assert.match(opened[0]!, new RegExp(`/api/events\\?jobs=${id}`));
      release();
      await waitForStatus(second, "completed");
      const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
      assert.equal((await second.locator("#live-style").textContent())?.trim(), snapshot.article);
      await assertSectionsOnce(second, snapshot.article);
      assert.deepEqual(pageProblems(second), []);
    } finally {
      release();
      await harness.close();
    }
  },
);

/** The offline writer's text, with 100 prompt and 50 completion tokens reported per request. */
class CountingWriter implements LlmClient {
  readonly provider = "counting";
  readonly model = "priced-test";
  readonly #offline = new OfflineWriter({ delayMs: 50 });

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    const { onAttempt, ...rest } = options;
    const text = await this.#offline.complete(request, rest);
    onAttempt?.({ promptTokens: 100, completionTokens: 50, totalTokens: 150 });
    return text;
  }
}

Deno.test("web page shows tokens, cost and time per step", browserTest, async () => {
  const harness = await startHarness(
    ["--llm-prices", JSON.stringify({ "priced-test": { input: 1, output: 2 } })],
    { llm: new CountingWriter() },
  );
  try {
    const page = await openPage(harness.context);
    await submitTopic(page, "Counted words");
    await waitForStatus(page, "completed");
    // 150 tokens a request at $1 (input) and $2 (output) per million: $0.0002 a request.
    const meta = (step: string) => page.locator(`#steps [data-step="${step}"] .step-meta`);
    assert.match(await meta("outline").innerText(), /^\d+\.\d s · 150 tokens · \$0\.000200$/);
    assert.match(await meta("content").innerText(), /^\d+\.\d s · 450 tokens · \$0\.000600$/);
    assert.match(await meta("style").innerText(), /^\d+\.\d s · 150 tokens · \$0\.000200$/);
    assert.match(
      await page.locator("#usage").innerText(),
      /^\d+\.\d s of steps · 750 tokens \(500 prompt, 250 completion\) · \$0\.001000$/,
    );
    assert.deepEqual(pageProblems(page), []);
  } finally {
    await harness.close();
  }
});

/** Outlines, then fails every section: the job ends in `error`. */
class FailingWriter implements LlmClient {
  readonly provider = "failing";
  readonly model = "failing-test";
  readonly #offline = new OfflineWriter({ delayMs: 50 });

  async complete(request: LlmRequest, options: LlmCallOptions = {}): Promise<string> {
    if (request.purpose === "outline") return await this.#offline.complete(request, options);
    options.onDelta?.("half a sentence that will be taken ");
    throw new Error("the model is out of ink");
  }
}

Deno.test("web page shows a failed job's error clearly", browserTest, async () => {
  const harness = await startHarness([], { llm: new FailingWriter() });
  try {
    const page = await openPage(harness.context);
    await submitTopic(page, "Doomed");
    await waitForStatus(page, "failed");
    const alert = page.getByRole("alert").filter({ hasText: "failed" });
    assert.match(await alert.innerText(), /The job failed: .*out of ink/);
    assert.equal(
      await page.locator('#steps [data-step="content"]').getAttribute("data-state"),
      "failed",
    );
    assert.equal(
      await page.locator('#steps [data-step="style"]').getAttribute("data-state"),
      "stopped",
    );
    assert.equal(await page.locator("#cancel").isVisible(), false);
    assert.equal(await page.locator("#result").isVisible(), false);
    assert.match(await page.locator("#progress-label").innerText(), /Failed/);
  } finally {
    await harness.close();
  }
});

const ORIGINAL_PAGES = new Map(
  await Promise.all(
    ["index.html", "progress.html"].map(async (name) =>
      [
        name === "index.html" ? "/" : `/${name}`,
        await Deno.readTextFile(new URL(`./fixtures/original_example/${name}`, import.meta.url)),
      ] as const
    ),
  ),
);

// Records every message the page's EventSource gets, before the page's own handler sees it.
const MESSAGE_RECORDER = `
  const messages = [];
  globalThis.__messages = messages;
  const Native = globalThis.EventSource;
  globalThis.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      this.addEventListener("message", (event) => {
        try {
          messages.push(JSON.parse(event.data));
        } catch {
          messages.push(event.data);
        }
      });
    }
  };
`;

// True once a heartbeat came after the last message, or once the page shows an error.
const HELD_OR_FAILED = `(() => {
  const messages = globalThis.__messages ?? [];
  const last = messages.findIndex((m) => m.step === "complete" || m.step === "error");
  const held = last !== -1 && messages.slice(last + 1).some((m) => m.heartbeat === true);
  return held || document.getElementById("errorMessage").style.display === "block";
})()`;

Deno.test(
  "the original example's pages, unchanged in behaviour, end clean on the compatibility routes",
  browserTest,
  async (t) => {
    // Heartbeats every 100 ms make "the stream stayed open after the last message" quick to
    // see; the hold is far longer than the test.
    const harness = await startHarness(["--heartbeat-ms", "100", "--compat-hold-ms", "10m"]);
    const { server, context } = harness;
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
      page.on("console", (message) => {
        if (message.type() === "error") problems.push(`console: ${message.text()}`);
      });
      page.on("dialog", (dialog) => {
        problems.push(`dialog: ${dialog.message()}`);
        dialog.dismiss().catch(() => {});
      });
      // The test serves the two pages on the service's own origin, as the original server
      // served them beside its routes; everything else goes to the service.
      await page.route(
        (url) => ORIGINAL_PAGES.has(url.pathname),
        (route) =>
          route.fulfill({
            contentType: "text/html; charset=utf-8",
            body: ORIGINAL_PAGES.get(new URL(route.request().url()).pathname) ?? "",
          }),
      );
      await page.addInitScript({ content: MESSAGE_RECORDER });

      let id = "";
      await t.step("the form starts a job and the progress page shows its article", async () => {
        await page.goto("/");
        await page.getByLabel("What would you like to write about?").fill("Original pages");
        await page.getByRole("button", { name: "Generate Article" }).click();
        await page.waitForURL(/\/progress\.html\?job_id=[0-9a-f-]{36}&topic=Original%20pages$/);
        id = new URL(page.url()).searchParams.get("job_id") ?? "";
        await page.waitForFunction(HELD_OR_FAILED);
        assert.equal(
          await page.locator("#errorMessage").isVisible(),
          false,
          `the page shows: ${await page.locator("#errorMessage").textContent()}`,
        );
        const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
        assert.equal(snapshot.status, "completed");
        assert.equal(await page.locator("#articleContent").textContent(), snapshot.article);
        assert.equal(await page.locator("#resultSection").isVisible(), true);
        assert.equal(await page.locator("#progressPercentage").textContent(), "100%");
        assert.equal(await page.locator("#topicTitle").textContent(), '"Original pages"');
        assert.equal(await page.getByText("Connection lost").count(), 0);
        assert.equal(server.manager.stats().streams, 1, "the finished job's stream is held open");
        assert.deepEqual(problems, []);
      });

      await t.step("a reload of the finished job's page ends clean too", async () => {
        await page.reload();
        await page.waitForFunction(HELD_OR_FAILED);
        assert.equal(
          await page.locator("#errorMessage").isVisible(),
          false,
          `the page shows: ${await page.locator("#errorMessage").textContent()}`,
        );
        assert.match((await page.locator("#articleContent").textContent()) ?? "", /Original pages/);
        await waitUntil(
          "the old page's stream is let go",
          () => server.manager.stats().streams === 1,
        );
        assert.deepEqual(problems, []);
      });

      await t.step("a page that leaves lets its held stream go", async () => {
        await page.close();
        await waitUntil("the held stream is let go", () => server.manager.stats().streams === 0);
      });
    } finally {
      await harness.close();
    }
  },
);

Deno.test(
  "the API reference at /docs renders every route and schema of /openapi.json, offline, under its CSP",
  browserTest,
  async () => {
    const harness = await startHarness();
    const { context, server } = harness;
    try {
      const requested: string[] = [];
      context.on("request", (request: Request) => void requested.push(request.url()));
      await context.addInitScript({
        content: `globalThis.__violations = [];
          document.addEventListener("securitypolicyviolation", (event) => {
            globalThis.__violations.push(event.violatedDirective + " " + event.blockedURI);
          });`,
      });
      const page = await openPage(context, "/docs");
      const api = await (await fetch(`${server.url}/openapi.json`)).json() as {
        paths: Record<string, Record<string, unknown>>;
        components: { schemas: Record<string, unknown> };
      };
      const listed = await page.locator("section.operation").evaluateAll((sections) =>
        sections.map((s) => `${s.getAttribute("data-method")} ${s.getAttribute("data-path")}`)
      );
      const documented = Object.entries(api.paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)
      );
      assert.deepEqual(listed.sort(), documented.sort(), "every route, once");
      const paths = await page.locator("section.operation .path").allTextContents();
      assert.deepEqual([...new Set(paths)].sort(), Object.keys(api.paths).sort());
      const schemas = await page.locator("section.schema").evaluateAll((sections) =>
        sections.map((s) => s.getAttribute("data-schema"))
      );
      assert.deepEqual(schemas, Object.keys(api.components.schemas));
      // The stream's events are listed with their data's schema.
      const events = await page.locator('[id="op-streamJobEvents"] [data-event]').evaluateAll(
        (items) => items.map((item) => item.getAttribute("data-event")),
      );
      assert.deepEqual(events, [
        "status",
        "progress",
        "delta",
        "usage",
        "complete",
        "error",
        "cancelled",
        "shutdown",
      ]);
      // The overview shows a short example of an idempotent submit, a webhook and the client.
      const examples = await page.locator("main > .prose pre code").allTextContents();
      assert.equal(examples.length, 3, "three examples, each in its own block");
      assert.match(examples[0] ?? "", /Idempotency-Key: order-42/);
      assert.match(examples[1] ?? "", /^webhook-signature: v1,/m);
      assert.match(examples[2] ?? "", /new QuillflowClient\(/);
      // A link to a schema lands on it.
      await page.locator('[id="op-getJob"] a.type-ref', { hasText: /^Job$/ }).first().click();
      assert.match(page.url(), /#schema-Job$/);
      const origin = new URL(server.url).origin;
      assert.deepEqual(requested.filter((url) => new URL(url).origin !== origin), []);
      assert.ok(requested.some((url) => url.endsWith("/openapi.json")));
      const violations = await page.evaluate(() =>
        (globalThis as unknown as { __violations: string[] }).__violations
      );
      assert.deepEqual(violations, [], "no CSP violations");
      assert.deepEqual(pageProblems(page), []);
      await screenshot(page, "docs");
    } finally {
      await harness.close();
    }
  },
);
