/**
 * Several processes on one host behind one port (`REUSE_PORT=1`: `SO_REUSEPORT`, the kernel
 * hands each new connection to one of them), sharing jobs through Redis. Each process is run as
 * the `start` task runs it (`tests/service_process.ts`), against its own `redis-server`.
 */

import assert from "node:assert/strict";
import { startOpenAiServer } from "../testing/openai_server.ts";
import { collectEvents, readSse, type SseEvent } from "../testing/sse_client.ts";
import { hasRedisServer, RedisServer } from "../testing/redis_cluster.ts";
import { loadConfig } from "../src/config.ts";
import { childEnv } from "../testing/child_env.ts";
import { type ServiceProcess, startService } from "./service_process.ts";
import { waitForValue } from "./_server.ts";

const haveRedis = await hasRedisServer();
if (!haveRedis) {
  console.warn("\n!!! SKIPPING the reuse-port tests: redis-server is not installed\n");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The JSON log lines of a process with `msg`, as `job` ids. */
function jobsLogged(service: ServiceProcess, msg: string): string[] {
  // The last piece may be a line still being written.
  return service.stderr().split("\n").slice(0, -1).flatMap((line) => {
    if (!line.startsWith("{")) return [];
    const entry = JSON.parse(line) as { msg?: string; job?: string };
    return entry.msg === msg && entry.job ? [entry.job] : [];
  });
}

/**
 * One TCP connection, so every request on it reaches the same process: the one the kernel gave
 * the connection to. HTTP/1.1 by hand, enough for this service's answers.
 */
class PinnedConnection implements Disposable {
  readonly #conn: Deno.TcpConn;
  #buffered = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async open(url: string): Promise<PinnedConnection> {
    const { hostname, port } = new URL(url);
    return new PinnedConnection(await Deno.connect({ hostname, port: Number(port) }));
  }

  /** Sends a request and reads the status line and headers of its answer. */
  async #send(head: string, body = ""): Promise<{ status: number; headers: Headers }> {
    const bytes = encoder.encode(body);
    await this.#conn.write(
      encoder.encode(`${head}\r\nhost: x\r\ncontent-length: ${bytes.length}\r\n\r\n${body}`),
    );
    let end: number;
    while ((end = this.#find("\r\n\r\n")) === -1) await this.#fill();
    const [statusLine, ...lines] = decoder.decode(this.#take(end + 4)).trimEnd().split("\r\n");
    const headers = new Headers(
      lines.map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
    );
    return { status: Number(statusLine?.split(" ")[1]), headers };
  }

  /** `POST path` with a JSON body; the answer's status and JSON. */
  async post(
    path: string,
    json: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const { status, headers } = await this.#send(
      `POST ${path} HTTP/1.1\r\ncontent-type: application/json`,
      JSON.stringify(json),
    );
    const length = Number(headers.get("content-length"));
    while (this.#buffered.length < length) await this.#fill();
    return { status, body: JSON.parse(decoder.decode(this.#take(length))) };
  }

  /** `GET path` of an event stream, read to its end (its chunked body decoded). */
  async events(path: string, onEvent: (event: SseEvent) => void): Promise<SseEvent[]> {
    const { status, headers } = await this.#send(`GET ${path} HTTP/1.1`);
    assert.equal(status, 200);
    assert.equal(headers.get("transfer-encoding"), "chunked");
    const chunks = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let end: number;
        while ((end = this.#find("\r\n")) === -1) await this.#fill();
        const size = parseInt(decoder.decode(this.#take(end + 2)), 16);
        while (this.#buffered.length < size + 2) await this.#fill();
        const chunk = this.#take(size + 2).slice(0, size);
        if (size === 0) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const events: SseEvent[] = [];
    for await (const event of readSse(chunks, { what: path })) {
      if (event.comment !== undefined) continue;
      events.push(event);
      onEvent(event);
    }
    return events;
  }

  #find(text: string): number {
    return decoder.decode(this.#buffered).indexOf(text);
  }

  #take(n: number): Uint8Array {
    const head = this.#buffered.slice(0, n);
    this.#buffered = this.#buffered.slice(n);
    return head;
  }

  async #fill(): Promise<void> {
    const buffer = new Uint8Array(16_384);
    const n = await this.#conn.read(buffer);
    if (n === null) throw new Error("The server closed the connection");
    const grown = new Uint8Array(this.#buffered.length + n);
    grown.set(this.#buffered);
    grown.set(buffer.subarray(0, n), this.#buffered.length);
    this.#buffered = grown;
  }

  [Symbol.dispose](): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }
}

const TERMINAL = new Set(["complete", "error", "cancelled"]);

/** Ids 1..n, and one terminal event, `last`, the last one. */
function assertWholeLog(events: SseEvent[], last = "complete"): void {
  assert.deepEqual(events.map((e) => e.id), events.map((_, i) => String(i + 1)), "ids 1..n");
  const ends = events.flatMap((e, i) => TERMINAL.has(e.event) ? [`${e.event} at id ${i + 1}`] : []);
  assert.deepEqual(ends, [`${last} at id ${events.length}`], "one terminal event, the last");
}

Deno.test({
  name: "REUSE_PORT: two processes share one port and their jobs, a watcher on either sees all",
  ignore: !haveRedis,
  async fn(t) {
    // A job whose topic says "blocker" never gets its outline: it holds the only running slot
    // until it is cancelled, so the next job waits while its watchers connect.
    const llm = await startOpenAiServer({
      script: (request) => request.prompt.includes("blocker") ? { hang: true } : undefined,
    });
    const redis = await RedisServer.start();
    const services: ServiceProcess[] = [];
    try {
      const settings = [
        "--store",
        "redis",
        "--redis-url",
        redis.url,
        "--reuse-port",
        "1",
        "--openai-base-url",
        llm.baseUrl,
        "--openai-api-key",
        "k",
        "--llm-model",
        "m",
        "--global-concurrent-jobs",
        "1",
        "--shutdown-grace-ms",
        "0",
      ];
      services.push(await startService(settings));
      const url = services[0]!.url;
      services.push(await startService([...settings, "--port", new URL(url).port]));
      const [a, b] = services as [ServiceProcess, ServiceProcess];
      assert.equal(b.url, url, "the second process listens on the first one's port");

      await t.step("a second process without REUSE_PORT cannot take the port", async () => {
        const error = await startService(
          settings.filter((s, i) => s !== "--reuse-port" && settings[i - 1] !== "--reuse-port")
            .concat(["--port", new URL(url).port]),
        ).then(() => undefined, (e: Error) => e);
        assert.ok(error, "it started");
        assert.match(error.message, /cannot start: Address already in use/);
      });

      await t.step("a burst of submits on new connections lands on both processes", async () => {
        // No idle connection kept: every request is a new connection, placed by the kernel.
        using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        const ids = await Promise.all(Array.from({ length: 24 }, async (_, i) => {
          const response = await fetch(`${url}/api/jobs`, {
            client,
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ topic: `burst topic ${i}` }),
          });
          const body = await response.json();
          assert.equal(response.status, 202, JSON.stringify(body));
          return body.id as string;
        }));
        for (const id of ids) assertWholeLog(await collectEvents(`${url}/api/jobs/${id}/events`));
        const accepted = services.map((s) =>
          jobsLogged(s, "job queued").filter((id) => ids.includes(id)).length
        );
        assert.equal(accepted[0]! + accepted[1]!, 24, `accepted per process: ${accepted}`);
        assert.ok(accepted.every((n) => n > 0), `accepted per process: ${accepted}`);
      });

      await t.step(
        "a watcher on either process gets every event of a job the other runs",
        async () => {
          // A connection on each process, found by the process that logs the job submitted on it.
          const pinned = new Map<ServiceProcess, PinnedConnection>();
          const spare: PinnedConnection[] = [];
          try {
            for (let i = 0; pinned.size < 2; i++) {
              assert.ok(i < 64, "64 connections all went to one process");
              const conn = await PinnedConnection.open(url);
              const { status, body } = await conn.post("/api/jobs", { topic: `marker ${i}` });
              assert.equal(status, 202);
              const owner = await waitForValue(
                `the process that accepted ${body.id}`,
                () => services.find((s) => jobsLogged(s, "job queued").includes(body.id as string)),
              );
              if (pinned.has(owner)) spare.push(conn);
              else pinned.set(owner, conn);
            }
            using client = Deno.createHttpClient({});
            const submit = async (topic: string) => {
              const response = await fetch(`${url}/api/jobs`, {
                client,
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ topic }),
              });
              assert.equal(response.status, 202);
              return (await response.json()).id as string;
            };
            const blocker = await submit("the blocker");
            await waitForValue(
              "the blocker to run",
              () => services.some((s) => jobsLogged(s, "job started").includes(blocker)),
            );
            const id = await submit("lighthouses");
            const firstSeen = [a, b].map(() => Promise.withResolvers<void>());
            const watched = [a, b].map((s, i) =>
              pinned.get(s)!.events(`/api/jobs/${id}/events`, () => firstSeen[i]!.resolve())
            );
            await Promise.all(firstSeen.map((f) => f.promise));
            assert.ok(!services.some((s) => jobsLogged(s, "job started").includes(id)), "it waits");
            const cancelled = await fetch(`${url}/api/jobs/${blocker}`, {
              client,
              method: "DELETE",
            });
            assert.equal(cancelled.status, 202);
            await cancelled.body?.cancel();
            const [onA, onB] = await Promise.all(watched);
            const runner = services.find((s) => jobsLogged(s, "job started").includes(id));
            assert.ok(runner, "one of the two processes ran it");
            assertWholeLog(onA!);
            assert.deepEqual(onB, onA, "both watchers saw the same log");
            assert.deepEqual(
              await collectEvents(`${url}/api/jobs/${id}/events`),
              onA,
              "the replay",
            );
          } finally {
            for (const conn of [...pinned.values(), ...spare]) conn[Symbol.dispose]();
          }
        },
      );
    } finally {
      await Promise.allSettled(services.map((s) => s[Symbol.asyncDispose]()));
      await redis.destroy();
      await llm.close();
    }
  },
});

Deno.test("REUSE_PORT=1 is refused, with the reason, where processes could not share jobs", async (t) => {
  await t.step("without STORE=redis", () => {
    for (const store of [undefined, "sqlite", "memory"]) {
      const env = (name: string) => ({ REUSE_PORT: "1", STORE: store })[name];
      assert.throws(() => loadConfig(env), {
        name: "TypeError",
        message: /REUSE_PORT=1 needs STORE=redis/,
      });
    }
  });

  await t.step("without Deno's --unstable-net, before Redis is reached", async () => {
    // The start task's flags less --unstable-net; the Redis URL points nowhere on purpose.
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-P=quillflow",
        "--no-prompt",
        "main.ts",
        "serve",
        "--port",
        "0",
        "--store",
        "redis",
        "--redis-url",
        "redis://127.0.0.1:1",
        "--reuse-port",
        "1",
      ],
      stdout: "null",
      stderr: "piped",
      clearEnv: true,
      env: childEnv(),
    }).output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 1, text);
    assert.match(text, /cannot start: REUSE_PORT=1 needs Deno's --unstable-net flag/);
  });
});
