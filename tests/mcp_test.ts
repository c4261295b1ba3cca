/**
 * The MCP server, driven by the MCP SDK's own client over both transports: Streamable HTTP
 * against the real service in this process, and stdio against `main.ts mcp` run with the `mcp`
 * task's permissions, as an MCP client application starts it.
 */

import { childEnv } from "../testing/child_env.ts";
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { helpText, parseCommand } from "../src/cli.ts";
// The SDK's export map names its declarations only for extensionless paths.
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { type CallToolResult, McpError, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { type OpenAiServer, startOpenAiServer } from "../testing/openai_server.ts";
import { hasRedisServer, Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";
import { startTestServer, waitFor } from "./_server.ts";
import { startService } from "./service_process.ts";
import { makeTestDir } from "./test_dir.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The `deno run` flags of a task of deno.json. */
function taskFlags(task: "mcp" | "compile"): string[] {
  const words = denoJson.tasks[task].split(/\s+/);
  const from = words.indexOf(task === "mcp" ? "run" : "compile") + 1;
  const flags = words.slice(from, words.indexOf("main.ts"));
  // The compile task's output and included modules are no `deno run` flags.
  for (const flag of ["--output", "--include"]) {
    for (let at = flags.indexOf(flag); at !== -1; at = flags.indexOf(flag)) flags.splice(at, 2);
  }
  return flags;
}

/** A connected client and what it saw go wrong. */
interface Connection extends AsyncDisposable {
  client: Client;
  /** Errors the client's transport reported, such as a line on stdout that is no message. */
  errors: Error[];
  /** What the server wrote on stderr (stdio only). */
  stderr(): string;
}

async function connect(
  transport: StdioClientTransport | StreamableHTTPClientTransport,
): Promise<Connection> {
  const client = new Client({ name: "quillflow-test", version: "1.0.0" });
  const errors: Error[] = [];
  client.onerror = (error) => void errors.push(error);
  let stderr = "";
  if (transport instanceof StdioClientTransport) {
    transport.stderr?.on("data", (chunk: Uint8Array) => void (stderr += String(chunk)));
  }
  await client.connect(transport);
  return {
    client,
    errors,
    stderr: () => stderr,
    [Symbol.asyncDispose]: () =>
      transport instanceof StdioClientTransport ? closeStdio(client) : client.close(),
  };
}

/**
 * Closes a stdio client. `StdioClientTransport.close` races the child's exit against a 2-second
 * timer it never clears; once the child has exited, that timer is cleared here, so the test that
 * closed the client does not leave it running (the op sanitizer would report it).
 */
async function closeStdio(client: Client): Promise<void> {
  const started: ReturnType<typeof setTimeout>[] = [];
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    const timer = original(...args);
    started.push(timer);
    return timer;
  }) as typeof setTimeout;
  let closing: Promise<void>;
  try {
    // The transport starts its timer before its first await.
    closing = client.close();
  } finally {
    globalThis.setTimeout = original;
  }
  await closing;
  for (const timer of started) clearTimeout(timer);
}

/** A client of the running service's `/mcp`. */
function connectHttp(baseUrl: string, headers: Record<string, string> = {}): Promise<Connection> {
  return connect(
    new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), { requestInit: { headers } }),
  );
}

/** A client of `main.ts mcp` with `args`, as the mcp task runs it, with a clean environment. */
function connectStdio(
  args: string[],
  env: Record<string, string> = {},
  task: "mcp" | "compile" = "mcp",
): Promise<Connection> {
  return connect(
    new StdioClientTransport({
      command: Deno.execPath(),
      args: ["run", ...taskFlags(task), "main.ts", "mcp", ...args],
      cwd: ROOT,
      // The SDK adds HOME and PATH of this process to what it is given: childEnv sets both, and
      // the Deno cache in use, so the child writes nothing under the user's HOME.
      env: childEnv(env),
      stderr: "pipe",
    }),
  );
}

function openaiFlags(llm: OpenAiServer): string[] {
  return [
    "--llm-provider",
    "openai",
    "--openai-base-url",
    llm.baseUrl,
    "--openai-api-key",
    "test-key",
    "--llm-max-attempts",
    "1",
  ];
}

function text(result: CallToolResult): string {
  return result.content.map((part) => part.type === "text" ? part.text : "").join("\n");
}

async function call(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  return await client.callTool({ name, arguments: args }) as CallToolResult;
}

async function readArticle(client: Client, id: string): Promise<string> {
  const { contents } = await client.readResource({ uri: `quillflow://jobs/${id}/article` });
  const first = contents[0];
  assert.ok(first && "text" in first, JSON.stringify(contents));
  return first.text;
}

/** Waits until the newest job with `topic` runs, and returns its id. */
async function runningJob(client: Client, topic: string): Promise<string> {
  let id = "";
  await waitFor(
    async () => {
      const listed = await call(client, "list_jobs", { limit: 5 });
      const jobs = (listed.structuredContent as { jobs: Record<string, unknown>[] }).jobs;
      const job = jobs.find((job) => job.topic === topic);
      id = String(job?.id);
      return job?.status === "running";
    },
    20_000,
    `job "${topic}" running`,
  );
  return id;
}

async function jobStatus(client: Client, id: string): Promise<string> {
  const result = await call(client, "get_job", { id });
  assert.ok(!result.isError, text(result));
  return String(result.structuredContent?.status);
}

/** Calls write_article with a progress token and returns the notifications and the result. */
async function writeArticle(
  client: Client,
  topic: string,
): Promise<{ progress: Progress[]; result: CallToolResult }> {
  const progress: Progress[] = [];
  const result = await client.callTool({ name: "write_article", arguments: { topic } }, undefined, {
    onprogress: (p) => void progress.push(p),
  }) as CallToolResult;
  return { progress, result };
}

/**
 * Checks the progress a client saw. The SDK's client may drop the last notifications when they
 * arrive in one read with the answer (modelcontextprotocol/typescript-sdk#2580): it handles the
 * answer at once and notifications a microtask later, after it has forgotten the token. The
 * stdio wire test checks the server sends every notification before the answer.
 */
function assertProgressed(progress: Progress[]): void {
  assert.ok(progress.length >= 3, JSON.stringify(progress));
  for (const [i, p] of progress.entries()) {
    assert.equal(p.total, 100);
    assert.ok(p.progress >= 0 && p.progress <= 100, JSON.stringify(p));
    if (i > 0) {
      assert.ok(p.progress > progress[i - 1]!.progress, `increasing: ${JSON.stringify(progress)}`);
    }
  }
  assert.deepEqual(progress[0], { progress: 0, total: 100, message: "queued" });
  assert.match(progress.map((p) => p.message).join("|"), /outline: 3 sections planned/);
}

/** What went wrong in a client, less the SDK's race with late progress (see above). */
function clientErrors(connection: Connection): string[] {
  return connection.errors.map((error) => error.message).filter((message) =>
    !message.startsWith("Received a progress notification for an unknown token")
  );
}

/** Checks the tool list against what an agent needs to call the tools. */
async function checkToolList(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  assert.deepEqual(
    [...byName.keys()].sort(),
    ["cancel_job", "get_job", "list_jobs", "start_article", "write_article"],
  );
  for (const tool of tools) {
    assert.ok((tool.description ?? "").length > 60, `${tool.name} says what it does`);
    assert.equal(tool.inputSchema.type, "object");
    assert.equal(tool.outputSchema?.type, "object", `${tool.name} has an output schema`);
  }
  for (const name of ["write_article", "start_article"]) {
    const schema = byName.get(name)!.inputSchema;
    assert.deepEqual(schema.required, ["topic"]);
    assert.equal((schema.properties?.topic as { type: string }).type, "string");
  }
  for (const name of ["get_job", "cancel_job"]) {
    assert.deepEqual(byName.get(name)!.inputSchema.required, ["id"]);
  }
  const limit = byName.get("list_jobs")!.inputSchema.properties?.limit as Record<string, unknown>;
  assert.deepEqual(
    { type: limit.type, minimum: limit.minimum, maximum: limit.maximum, default: limit.default },
    { type: "integer", minimum: 1, maximum: 100, default: 20 },
  );
  assert.match(byName.get("write_article")!.description!, /progressToken/);
}

/** Bad input comes back as tool errors, and the session goes on. */
async function checkBadInput(client: Client, finishedId: string): Promise<void> {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["write_article", { topic: "   " }, /'topic' must not be empty/],
    ["start_article", { topic: "" }, /'topic' must not be empty/],
    ["start_article", { topic: "x".repeat(501) }, /at most 500 characters/],
    ["start_article", {}, /topic/],
    ["get_job", { id: "nope" }, /No job with id "nope"/],
    ["get_job", { id: crypto.randomUUID() }, /No job with id/],
    ["cancel_job", { id: crypto.randomUUID() }, /No job with id/],
    ["cancel_job", { id: finishedId }, /has already finished as completed/],
    ["list_jobs", { limit: 0 }, /'limit' must be an integer from 1 to 100: current value is 0/],
    ["list_jobs", { limit: 101 }, /'limit' must be an integer from 1 to 100/],
    ["list_jobs", { limit: 1.5 }, /'limit' must be an integer from 1 to 100/],
    ["list_jobs", { limit: "5" }, /'limit' must be an integer from 1 to 100/],
  ];
  for (const [name, args, message] of cases) {
    const result = await call(client, name, args);
    assert.equal(result.isError, true, `${name} ${JSON.stringify(args)}: ${text(result)}`);
    assert.match(text(result), message);
  }
  await client.ping();
}

/** The article as a resource, listed through the template. */
async function checkResources(client: Client, id: string, article: string): Promise<void> {
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.equal(resourceTemplates.length, 1);
  assert.equal(resourceTemplates[0]!.uriTemplate, "quillflow://jobs/{id}/article");
  assert.equal(resourceTemplates[0]!.mimeType, "text/markdown");
  const uri = `quillflow://jobs/${id}/article`;
  const { resources } = await client.listResources();
  assert.ok(resources.some((resource) => resource.uri === uri), JSON.stringify(resources));
  const { contents } = await client.readResource({ uri });
  assert.deepEqual(contents, [{ uri, mimeType: "text/markdown", text: article }]);
  await assert.rejects(
    client.readResource({ uri: `quillflow://jobs/${crypto.randomUUID()}/article` }),
    (error: unknown) => error instanceof McpError && error.code === -32002,
  );
}

/** Everything a client does with a finished article, over any transport. */
async function checkArticleRoundTrip(client: Client): Promise<void> {
  const { progress, result } = await writeArticle(client, "tea ceremonies");
  assert.ok(!result.isError, text(result));
  assertProgressed(progress);
  const { jobId, article } = result.structuredContent as { jobId: string; article: string };
  assert.match(article, /^# tea ceremonies: a friendly guide/);
  assert.equal((result.content[0] as { text: string }).text, article);
  assert.match(text(result), new RegExp(`Job id: ${jobId}`));
  assert.equal(await jobStatus(client, jobId), "completed");

  const listed = await call(client, "list_jobs", { limit: 5 });
  const jobs = (listed.structuredContent as { jobs: Record<string, unknown>[] }).jobs;
  assert.equal(jobs[0]?.id, jobId);
  assert.equal(jobs[0]?.article, undefined, "a list leaves the article out");
  assert.equal(jobs[0]?.articleUri, `quillflow://jobs/${jobId}/article`);

  await checkResources(client, jobId, article);
  await checkBadInput(client, jobId);
}

/**
 * Starts write_article on a job whose outline call hangs in the test LLM server, cancels the
 * MCP request once that call is in flight, and checks the cancel reached the job and the call.
 */
async function checkCancel(client: Client, llm: OpenAiServer): Promise<void> {
  const abort = new AbortController();
  const pending = client.callTool(
    { name: "write_article", arguments: { topic: "slow tea" } },
    undefined,
    { signal: abort.signal, onprogress: () => {} },
  );
  const settled = pending.then(() => "resolved", (error) => error);
  await waitFor(() => llm.requests.length === 1, 20_000, "the outline call");
  const listed = await call(client, "list_jobs", { limit: 1 });
  const job = (listed.structuredContent as { jobs: { id: string; status: string }[] }).jobs[0]!;
  const jobId = job.id;
  assert.equal(job.status, "running");
  abort.abort(new Error("the agent changed its mind"));
  const outcome = await settled;
  assert.notEqual(outcome, "resolved", "a cancelled request gets no answer");
  await waitFor(async () => await jobStatus(client, jobId) === "cancelled", 20_000, "cancelled");
  await waitFor(() => llm.requests[0]!.aborted, 20_000, "the LLM call aborted");
  assert.equal(llm.requests.length, 1, "nothing called after the cancel");
}

function hangOnOutline(): Promise<OpenAiServer> {
  return startOpenAiServer({
    script: (request) =>
      request.prompt.includes("Create a simple outline") ? { hang: true } : undefined,
  });
}

Deno.test("MCP over Streamable HTTP at /mcp of the running service", async (t) => {
  // Time between a job's steps, so progress arrives as it happens (see assertProgressed).
  const server = await startTestServer(["--offline-delay-ms", "100"]);
  try {
    await using mcp = await connectHttp(server.url);
    await t.step("tools/list names five tools with schemas", () => checkToolList(mcp.client));
    await t.step(
      "write_article streams progress, then answers with the article and its job id; " +
        "bad input is a tool error; the article is a resource",
      () => checkArticleRoundTrip(mcp.client),
    );
    await t.step("start_article answers at once; get_job follows the job", async () => {
      const started = await call(mcp.client, "start_article", { topic: "green tea" });
      assert.ok(!started.isError, text(started));
      const { jobId, status } = started.structuredContent as { jobId: string; status: string };
      assert.ok(status === "queued" || status === "running", status);
      await waitFor(async () => await jobStatus(mcp.client, jobId) === "completed", 20_000);
      const job = await call(mcp.client, "get_job", { id: jobId });
      assert.match(String(job.structuredContent?.article), /^# green tea/);
      assert.equal(job.structuredContent?.progress, 100);
    });
    await t.step(
      "a session ended with DELETE stops following its write_article, whose job goes on; " +
        "the session id is then unknown (404)",
      async () => {
        const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`));
        const client = new Client({ name: "short-lived", version: "1.0.0" });
        await client.connect(transport);
        const pending = client.callTool({ name: "write_article", arguments: { topic: "orphan" } })
          .catch((error) => error);
        const jobId = await runningJob(mcp.client, "orphan");
        const id = transport.sessionId!;
        await transport.terminateSession();
        await client.close();
        assert.ok(await pending instanceof Error, "the closed client got no answer");
        await waitFor(async () => await jobStatus(mcp.client, jobId) === "completed", 20_000);
        const response = await fetch(`${server.url}/mcp`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-session-id": id,
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
        });
        assert.equal(response.status, 404);
        assert.equal((await response.json()).error.code, "session_not_found");
      },
    );
    await t.step("a request from a foreign browser origin is refused (403)", async () => {
      const response = await fetch(`${server.url}/mcp`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: "http://attacker.example" },
        body: "{}",
      });
      assert.equal(response.status, 403);
      assert.equal((await response.json()).error.code, "origin_not_allowed");
    });
    assert.deepEqual(clientErrors(mcp), []);
  } finally {
    await server.shutdown();
  }
});

Deno.test("MCP over HTTP: cancelling write_article or cancel_job aborts the job's LLM call", async () => {
  const llm = await hangOnOutline();
  const server = await startTestServer(openaiFlags(llm));
  try {
    await using mcp = await connectHttp(server.url);
    await checkCancel(mcp.client, llm);

    const started = await call(mcp.client, "start_article", { topic: "long tea" });
    const { jobId } = started.structuredContent as { jobId: string };
    await waitFor(() => llm.requests.length === 2, 20_000, "the second outline call");
    const cancelled = await call(mcp.client, "cancel_job", { id: jobId });
    assert.ok(!cancelled.isError, text(cancelled));
    assert.equal(cancelled.structuredContent?.status, "cancelled");
    await waitFor(() => llm.requests[1]!.aborted, 20_000, "cancel_job aborted the LLM call");
  } finally {
    await server.shutdown();
    await llm.close();
  }
});

Deno.test("MCP over HTTP needs the API token when API_TOKEN is set", async () => {
  const server = await startTestServer(["--api-token", "s3cret"]);
  try {
    const response = await fetch(`${server.url}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).error.code, "unauthorized");
    await assert.rejects(
      connectHttp(server.url, { authorization: "Bearer wrong" }),
      /unauthorized/,
    );
    await using mcp = await connectHttp(server.url, { authorization: "Bearer s3cret" });
    assert.equal((await mcp.client.listTools()).tools.length, 5);
  } finally {
    await server.shutdown();
  }
});

Deno.test("the service stops while an MCP client holds its session open", async () => {
  const server = await startTestServer(["--offline-delay-ms", "1000"]);
  await using mcp = await connectHttp(server.url);
  const pending = writeArticle(mcp.client, "interrupted tea");
  await runningJob(mcp.client, "interrupted tea");
  // The client holds the session's event stream open: shutdown must end it, not wait for it.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stuck = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("stuck"), 30_000);
  });
  const stopped = await Promise.race([server.shutdown().then(() => "stopped"), stuck]);
  clearTimeout(timer);
  assert.equal(stopped, "stopped");
  // The job was cancelled by the shutdown: the call ends with a tool error, not silence.
  const { result } = await pending;
  assert.equal(result.isError, true);
  assert.match(text(result), /cancelled/);
});

Deno.test("MCP over stdio: quillflow mcp as an MCP client application starts it", async (t) => {
  await using dir = await makeTestDir("mcp-stdio");
  await using mcp = await connectStdio(["--offline-delay-ms", "100"], { DATA_DIR: dir.path });
  await t.step("tools/list names five tools with schemas", () => checkToolList(mcp.client));
  await t.step(
    "write_article streams progress, then answers; bad input is a tool error; resources",
    () => checkArticleRoundTrip(mcp.client),
  );
  await t.step("stdout carried protocol messages only; logs went to stderr", () => {
    assert.deepEqual(clientErrors(mcp), [], "every line of stdout was a JSON-RPC message");
    assert.match(mcp.stderr(), /"msg":"mcp server ready on stdio","store":"memory"/);
    assert.match(mcp.stderr(), /"msg":"job completed"/);
  });
  await t.step("it kept jobs in memory: the data directory stayed empty", async () => {
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir.path)), []);
  });
});

Deno.test(
  "MCP over stdio: cancelling write_article cancels the job and aborts its LLM call",
  async () => {
    const llm = await hangOnOutline();
    try {
      await using mcp = await connectStdio(openaiFlags(llm));
      await checkCancel(mcp.client, llm);
      assert.deepEqual(clientErrors(mcp), []);
    } finally {
      await llm.close();
    }
  },
);

Deno.test("MCP over stdio writes nothing but JSON-RPC on stdout, even at LOG_LEVEL=debug", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskFlags("mcp"), "main.ts", "mcp"],
    cwd: ROOT,
    env: childEnv({ LOG_LEVEL: "debug", OFFLINE_DELAY_MS: "0" }),
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const send = (...messages: Record<string, unknown>[]) =>
    writer.write(new TextEncoder().encode(messages.map((m) => `${JSON.stringify(m)}\n`).join("")));
  const lines: string[] = [];
  let buffered = "";
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const readUntil = async (id: number) => {
    while (!lines.some((line) => JSON.parse(line).id === id)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stdout ended before the answer to ${id}: ${lines.join("\n")}`);
      buffered += value;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      lines.push(...parts);
    }
  };
  await send({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "raw", version: "1" },
    },
  });
  await readUntil(1);
  await send(
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "get_job", arguments: {} } },
    {
      jsonrpc: "2.0",
      id: 3,
      method: "tools/call",
      params: { name: "write_article", arguments: { topic: "tea" }, _meta: { progressToken: 7 } },
    },
  );
  await readUntil(3);
  // stdin closing is how a client says goodbye: the server exits on its own.
  await writer.close();
  for (let r = await reader.read(); !r.done; r = await reader.read()) buffered += r.value;
  const { code } = await child.status;
  const stderr = await new Response(child.stderr).text();
  assert.equal(code, 0, stderr);
  lines.push(...buffered.split("\n").filter((line) => line !== ""));
  const messages = lines.map((line) => JSON.parse(line));
  for (const message of messages) assert.equal(message.jsonrpc, "2.0", JSON.stringify(message));
  const byId = new Map(messages.map((m) => [m.id, m]));
  assert.equal(byId.get(2).result.isError, true);
  assert.match(byId.get(3).result.structuredContent.article, /^# tea: a friendly guide/);
  // Every notification is written before the answer, with progress increasing to 100.
  const answerAt = messages.findIndex((m) => m.id === 3);
  const notices = messages.flatMap((m, i) =>
    m.method === "notifications/progress" ? [{ at: i, ...m.params }] : []
  );
  assert.ok(notices.length >= 4, JSON.stringify(notices));
  assert.ok(notices.every((n) => n.at < answerAt && n.progressToken === 7 && n.total === 100));
  assert.ok(notices.every((n, i) => i === 0 || n.progress > notices[i - 1]!.progress));
  assert.equal(notices.at(-1)?.progress, 100);
  assert.match(stderr, /"level":"debug","msg":"mcp client connected","client":"raw 1"/);
  assert.match(stderr, /"msg":"job completed"/);
  assert.match(stderr, /"msg":"mcp server stopping","why":"stdin closed"/);
});

Deno.test("MCP over stdio beside a running service on the same DATA_DIR", async (t) => {
  await using dir = await makeTestDir("mcp-beside");
  await using service = await startService([
    "--data-dir",
    dir.path,
    "--offline-delay-ms",
    "0",
    "--log-level",
    "warn",
  ]);
  assert.ok(service.url);
  await t.step("the default, jobs in memory, starts and writes articles", async () => {
    await using mcp = await connectStdio(["--offline-delay-ms", "0"], { DATA_DIR: dir.path });
    const { result } = await writeArticle(mcp.client, "side by side");
    assert.ok(!result.isError, text(result));
  });
  await t.step("--store sqlite on a data directory in use exits with a clear message", async () => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...taskFlags("mcp"), "main.ts", "mcp", "--store", "sqlite"],
      cwd: ROOT,
      env: childEnv({ DATA_DIR: dir.path }),
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 1);
    assert.match(
      new TextDecoder().decode(stderr),
      /quillflow: cannot start: Cannot open the job store/,
    );
  });
});

Deno.test("MCP over stdio with --store sqlite keeps jobs, and resumes one left running", async () => {
  await using dir = await makeTestDir("mcp-sqlite");
  const flags = ["--store", "sqlite", "--offline-delay-ms", "100"];
  let keptId: string;
  let leftId: string;
  {
    await using mcp = await connectStdio(flags, { DATA_DIR: dir.path });
    const { result } = await writeArticle(mcp.client, "kept tea");
    keptId = (result.structuredContent as { jobId: string }).jobId;
    // The client goes away while write_article runs: that is no cancel.
    mcp.client.callTool({ name: "write_article", arguments: { topic: "left tea" } }).catch(
      () => {},
    );
    leftId = await runningJob(mcp.client, "left tea");
  }
  await using again = await connectStdio(flags, { DATA_DIR: dir.path });
  assert.match(await readArticle(again.client, keptId), /^# kept tea/);
  await waitFor(async () => await jobStatus(again.client, leftId) === "completed", 20_000);
  assert.match(await readArticle(again.client, leftId), /^# left tea/);
});

Deno.test("the compile task's permissions run the mcp command", async () => {
  await using mcp = await connectStdio(["--offline-delay-ms", "0"], {}, "compile");
  const { result } = await writeArticle(mcp.client, "compiled tea");
  assert.ok(!result.isError, text(result));
  assert.deepEqual(clientErrors(mcp), []);
});

Deno.test("quillflow mcp: command line, store default (memory) and help", () => {
  const storeOf = (args: string[], env: Record<string, string> = {}) => {
    const command = parseCommand(args, (name) => env[name]);
    return command.kind === "mcp" || command.kind === "serve"
      ? `${command.kind} ${command.config.store}`
      : command.kind;
  };
  assert.equal(storeOf(["mcp"]), "mcp memory");
  assert.equal(storeOf(["--offline-delay-ms", "0", "mcp"]), "mcp memory", "a flag before mcp");
  assert.equal(storeOf(["mcp", "--store", "sqlite"]), "mcp sqlite");
  assert.equal(storeOf(["mcp"], { STORE: "redis", REDIS_URL: "redis://127.0.0.1:1" }), "mcp redis");
  assert.equal(storeOf(["serve"]), "serve sqlite", "serve keeps its default");
  assert.throws(() => parseCommand(["mcp", "tea"], () => undefined), /Unknown argument: tea/);
  assert.deepEqual(parseCommand(["help", "mcp"], () => undefined), { kind: "help", topic: "mcp" });
  assert.match(helpText("1.0.0", "mcp"), /quillflow mcp \[flags\]\n.*stdin\/stdout/);
  assert.match(helpText("1.0.0"), /quillflow mcp \[flags\]/);
});

const haveRedis = await hasRedisServer();

Deno.test({
  name: "Redis mode: write_article on one instance follows a job another instance runs",
  ignore: !haveRedis,
  async fn() {
    const redis = await RedisServer.start();
    const instances: Instance[] = [];
    try {
      const args = [
        "--store",
        "redis",
        "--redis-url",
        redis.url,
        "--offline-delay-ms",
        "300",
        "--max-concurrent-jobs",
        "1",
        "--log-level",
        "info",
      ];
      instances.push(await Instance.start("A", args), await Instance.start("B", args));
      const [a, b] = instances as [Instance, Instance];
      await using onA = await connectHttp(a.url);
      await using onB = await connectHttp(b.url);
      // One job at a time per instance: of two at once, B runs at least one.
      const runs = await Promise.all([
        writeArticle(onA.client, "shared tea"),
        writeArticle(onA.client, "shared coffee"),
      ]);
      const ids = runs.map(({ progress, result }) => {
        assert.ok(!result.isError, text(result));
        assertProgressed(progress);
        return (result.structuredContent as { jobId: string }).jobId;
      });
      assert.ok(ids.some((id) => b.logged("job started", id)), "B ran one of A's jobs");
      for (const [i, id] of ids.entries()) {
        const { article } = runs[i]!.result.structuredContent as { article: string };
        assert.equal(await readArticle(onB.client, id), article);
      }
    } finally {
      await stopAll(instances, redis);
    }
  },
});
