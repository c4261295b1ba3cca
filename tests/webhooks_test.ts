/**
 * Signed webhooks over real HTTP: a receiver on loopback gets `job.completed`, `job.failed` and
 * `job.cancelled`, each verified with the Standard Webhooks reference library
 * (`npm:standardwebhooks`), retried with the same `webhook-id` until it answers 2xx, across a
 * restart of the service, and once per job however many instances share the work.
 */

import { QuillflowClient, QuillflowError } from "../src/client/client.ts";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { Webhook } from "npm:standardwebhooks@1.1.1";
import { loadConfig } from "../src/config.ts";
import type { LlmCallOptions, LlmClient, LlmRequest } from "../src/llm/llm_client.ts";
import type { RunningServer } from "../src/server.ts";
import { OpenApiValidator } from "../testing/openapi_validator.ts";
import { hasRedisServer, Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";
import { startTestServer, waitFor } from "./_server.ts";
import { startService } from "./service_process.ts";
import { makeTestDir } from "./test_dir.ts";

const SECRET = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;

/** One request the receiver got. */
interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** A webhook endpoint on loopback that records every request. */
class Receiver implements AsyncDisposable {
  readonly received: Received[];
  readonly url: string;
  readonly #server: Deno.HttpServer;
  readonly #stopping: () => void;

  private constructor(
    server: Deno.HttpServer,
    url: string,
    received: Received[],
    stopping: () => void,
  ) {
    this.#server = server;
    this.url = url;
    this.received = received;
    this.#stopping = stopping;
  }

  /**
   * Starts a receiver answering `answer`. An answer that waits on `stopped` (given to it) is
   * let go when the receiver stops, so no request outlives the test.
   */
  static async start(
    answer: (n: number, request: Received, stopped: Promise<void>) => number | Promise<number> =
      () => 200,
  ): Promise<Receiver> {
    const { promise: listening, resolve } = Promise.withResolvers<string>();
    const stopped = Promise.withResolvers<void>();
    const received: Received[] = [];
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => resolve(`http://127.0.0.1:${port}`),
    }, async (request) => {
      const got: Received = {
        path: new URL(request.url).pathname,
        headers: Object.fromEntries(request.headers),
        body: await request.text(),
      };
      received.push(got);
      return new Response(null, {
        status: await answer(received.length, got, stopped.promise),
      });
    });
    return new Receiver(server, await listening, received, () => stopped.resolve());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopping();
    await this.#server.shutdown();
  }
}

/** The payload of `request` once the reference library has verified its signature. */
function verified(
  request: Received,
): { type: string; timestamp: string; data: Record<string, unknown> } {
  return new Webhook(SECRET).verify(request.body, request.headers) as {
    type: string;
    timestamp: string;
    data: Record<string, unknown>;
  };
}

/** Each service's document, fetched once: every submit's answer must be described by it. */
const validators = new Map<string, Promise<OpenApiValidator>>();

async function submit(base: string, body: Record<string, unknown>): Promise<Response> {
  const response = await fetch(`${base}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  let validator = validators.get(base);
  if (!validator) validators.set(base, validator = OpenApiValidator.fetch(base));
  await (await validator).check("POST", response.url, response.clone());
  return response;
}

async function submitted(base: string, body: Record<string, unknown>): Promise<string> {
  const response = await submit(base, body);
  const json = await response.json();
  assert.equal(response.status, 202, JSON.stringify(json));
  return json.id as string;
}

async function counter(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  assert.ok(match, `/metrics has ${name}`);
  return Number(match[1]);
}

function webhookFlags(urls: string[], extra: string[] = []): string[] {
  return [
    "--webhook-secret",
    SECRET,
    ...(urls.length > 0 ? ["--webhook-urls", urls.join(",")] : []),
    ...extra,
  ];
}

/** The offline writer, but every call fails: jobs end `failed`. */
class FailingWriter implements LlmClient {
  readonly provider = "failing";
  readonly model = "failing-test";
  complete(_request: LlmRequest, _options?: LlmCallOptions): Promise<string> {
    return Promise.reject(new Error("the model is out of ink"));
  }
}

Deno.test("webhooks: job.completed, job.failed and job.cancelled, signed, to WEBHOOK_URLS and the job's own URL", async (t) => {
  await using receiver = await Receiver.start();
  const flags = webhookFlags([`${receiver.url}/all`], [
    "--webhook-allowed-origins",
    receiver.url,
    "--webhook-allow-private",
    "1",
  ]);
  const started: RunningServer[] = [];
  try {
    await t.step("a completed job: both endpoints, one webhook-id, verified", async () => {
      const server = await startTestServer(flags);
      started.push(server);
      const id = await submitted(server.url, { topic: "tea", webhook: `${receiver.url}/mine?x=1` });
      await waitFor(() => receiver.received.length === 2, 30_000, "two deliveries");
      const paths = receiver.received.map((r) => r.path).sort();
      assert.deepEqual(paths, ["/all", "/mine"]);
      for (const request of receiver.received) {
        const payload = verified(request);
        assert.equal(payload.type, "job.completed");
        assert.equal(payload.data.id, id);
        assert.equal(payload.data.status, "completed");
        assert.match(String(payload.data.article), /tea/);
        assert.equal(payload.data.webhook, undefined, "the snapshot, not the record");
        assert.equal(request.headers["webhook-id"], `msg_${id}`);
        assert.equal(request.headers["content-type"], "application/json");
      }
      await waitFor(
        async () => await counter(server.url, "quillflow_webhook_deliveries_total") === 2,
        10_000,
        "the deliveries counted",
      );
      const snapshot = await (await fetch(`${server.url}/api/jobs/${id}`)).json();
      assert.equal(snapshot.webhook, undefined);
    });

    await t.step("the typed client sends a job's own webhook", async () => {
      receiver.received.length = 0;
      const server = started[0] as RunningServer;
      const client = new QuillflowClient(server.url);
      const job = await client.submit("client tea", { webhook: `${receiver.url}/client` });
      await waitFor(() => receiver.received.length === 2, 30_000, "two deliveries");
      assert.deepEqual(receiver.received.map((r) => r.path).sort(), ["/all", "/client"]);
      for (const request of receiver.received) assert.equal(verified(request).data.id, job.id);
      await assert.rejects(
        client.submit("tea", { webhook: "http://127.0.0.1:1/elsewhere" }),
        (error: QuillflowError) =>
          error.status === 400 && error.code === "webhook_origin_not_allowed",
      );
    });

    await t.step("a cancelled job: job.cancelled", async () => {
      receiver.received.length = 0;
      const server = await startTestServer([...flags, "--offline-delay-ms", "60000"]);
      started.push(server);
      const id = await submitted(server.url, { topic: "slow tea" });
      const cancel = await fetch(`${server.url}/api/jobs/${id}`, { method: "DELETE" });
      assert.equal(cancel.status, 202);
      await cancel.body?.cancel();
      await waitFor(() => receiver.received.length === 1, 30_000, "the delivery");
      const payload = verified(receiver.received[0] as Received);
      assert.deepEqual([payload.type, payload.data.id], ["job.cancelled", id]);
    });

    await t.step("a failed job: job.failed with its error", async () => {
      receiver.received.length = 0;
      const server = await startTestServer(flags, { llm: new FailingWriter() });
      started.push(server);
      const id = await submitted(server.url, { topic: "doomed tea" });
      await waitFor(() => receiver.received.length === 1, 30_000, "the delivery");
      const payload = verified(receiver.received[0] as Received);
      assert.deepEqual([payload.type, payload.data.id], ["job.failed", id]);
      assert.match(String(payload.data.error), /out of ink/);
    });
  } finally {
    for (const server of started) await server.shutdown();
  }
});

Deno.test("webhooks: a per-job webhook must come from an allowed origin and be a URL", async (t) => {
  await using receiver = await Receiver.start();
  const server = await startTestServer(webhookFlags([], [
    "--webhook-allowed-origins",
    receiver.url,
    "--webhook-allow-private",
    "1",
  ]));
  const off = await startTestServer();
  try {
    const cases: [string, unknown, string][] = [
      ["another origin", "http://127.0.0.1:1/hook", "webhook_origin_not_allowed"],
      ["another scheme", receiver.url.replace("http:", "https:"), "webhook_origin_not_allowed"],
      ["not a URL", "not a url", "invalid_webhook"],
      ["not http", "ftp://127.0.0.1/", "invalid_webhook"],
      ["with a password", receiver.url.replace("//", "//user:pw@"), "invalid_webhook"],
      ["not a string", 42, "invalid_webhook"],
    ];
    for (const [what, webhook, code] of cases) {
      await t.step(`${what}: 400 ${code}, no job`, async () => {
        const response = await submit(server.url, { topic: "tea", webhook });
        const body = await response.json();
        assert.equal(response.status, 400, JSON.stringify(body));
        assert.equal(body.error.code, code);
      });
    }
    await t.step("a form field too", async () => {
      const response = await fetch(`${server.url}/api/jobs`, {
        method: "POST",
        body: new URLSearchParams({ topic: "tea", webhook: "http://127.0.0.1:1/x" }),
      });
      assert.equal(response.status, 400);
      assert.equal((await response.json()).error.code, "webhook_origin_not_allowed");
    });
    await t.step("with per-job webhooks off, any is refused", async () => {
      const response = await submit(off.url, { topic: "tea", webhook: `${receiver.url}/x` });
      assert.equal(response.status, 400);
      assert.equal((await response.json()).error.code, "webhook_origin_not_allowed");
    });
    const listed = await (await fetch(`${server.url}/api/jobs`)).json();
    assert.deepEqual(listed.jobs, []);
    assert.deepEqual(receiver.received, []);
  } finally {
    await server.shutdown();
    await off.shutdown();
  }
});

Deno.test("webhooks: loopback and private destinations are refused without WEBHOOK_ALLOW_PRIVATE", async (t) => {
  await using receiver = await Receiver.start();
  const localhost = receiver.url.replace("127.0.0.1", "localhost");
  const server = await startTestServer(webhookFlags([`${receiver.url}/all`], [
    "--webhook-allowed-origins",
    `${receiver.url},${localhost},http://no-such-host.invalid`,
  ]));
  try {
    await t.step("at submit: a name without an address is a 400", async () => {
      const response = await submit(server.url, {
        topic: "tea",
        webhook: "http://no-such-host.invalid/hook",
      });
      assert.equal(response.status, 400);
      assert.equal((await response.json()).error.code, "webhook_unresolvable");
    });
    for (const webhook of [`${receiver.url}/mine`, `${localhost}/mine`]) {
      await t.step(`at submit: ${webhook} is a 400`, async () => {
        const response = await submit(server.url, { topic: "tea", webhook });
        const body = await response.json();
        assert.equal(response.status, 400);
        assert.equal(body.error.code, "webhook_destination_refused");
        assert.match(body.error.message, /loopback.*WEBHOOK_ALLOW_PRIVATE/);
      });
    }
    await t.step(
      "at delivery: WEBHOOK_URLS on loopback gets nothing, counted as a failure",
      async () => {
        await submitted(server.url, { topic: "tea" });
        await waitFor(
          async () => await counter(server.url, "quillflow_webhook_failures_total") === 1,
          30_000,
          "the refusal",
        );
        assert.equal(await counter(server.url, "quillflow_webhook_deliveries_total"), 0);
        assert.equal(
          await counter(server.url, "quillflow_webhook_retries_total"),
          0,
          "not retried",
        );
        assert.deepEqual(receiver.received, []);
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("webhooks: a failing or silent endpoint is retried with one webhook-id, then given up", async () => {
  await using receiver = await Receiver.start(async (n, _request, stopped) => {
    if (n === 1) await stopped; // no answer in time: a timeout
    return 500;
  });
  const server = await startTestServer(webhookFlags([receiver.url], [
    "--webhook-allow-private",
    "1",
    "--webhook-timeout",
    "300ms",
    "--webhook-retry-for",
    // Room for a third attempt (about 0.3 + 1 + 2 s in) however slow the machine, within reason.
    "8s",
  ]));
  try {
    const id = await submitted(server.url, { topic: "tea" });
    await waitFor(
      async () => await counter(server.url, "quillflow_webhook_failures_total") === 1,
      60_000,
      "the delivery given up",
    );
    const attempts = receiver.received.length;
    assert.ok(attempts >= 3, `tried again after a timeout and a 500: ${attempts} attempts`);
    assert.equal(await counter(server.url, "quillflow_webhook_retries_total"), attempts - 1);
    assert.equal(await counter(server.url, "quillflow_webhook_deliveries_total"), 0);
    const ids = new Set(receiver.received.map((r) => r.headers["webhook-id"]));
    assert.deepEqual([...ids], [`msg_${id}`]);
    const stamps = receiver.received.map((r) => Number(r.headers["webhook-timestamp"]));
    assert.ok(stamps.every((s, i) => i === 0 || s >= (stamps[i - 1] as number)), "signed anew");
    for (const request of receiver.received) assert.equal(verified(request).data.id, id);
  } finally {
    await server.shutdown();
  }
});

Deno.test("webhooks: a receiver that fails twice is delivered to after a service restart (sqlite)", async () => {
  await using dir = await makeTestDir("webhooks");
  const killed = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  await using receiver = await Receiver.start(async (n, _request, stopped) => {
    if (n === 1) return 500;
    if (n === 2) {
      second.resolve();
      // The service dies waiting for this answer.
      await Promise.race([killed.promise, stopped]);
      return 500;
    }
    return 204;
  });
  const flags = [
    "--data-dir",
    dir.path,
    "--offline-delay-ms",
    "0",
    "--log-level",
    "info",
    ...webhookFlags([`${receiver.url}/hook`], ["--webhook-allow-private", "1"]),
  ];
  let id: string;
  {
    await using service = await startService(flags);
    id = await submitted(service.url, { topic: "durable tea" });
    await second.promise;
    service.child.kill("SIGKILL");
    await service.child.status;
    killed.resolve();
  }
  assert.equal(receiver.received.length, 2);
  await using service = await startService(flags);
  await waitFor(() => receiver.received.length === 3, 60_000, "the delivery after the restart");
  await waitFor(
    async () => await counter(service.url, "quillflow_webhook_deliveries_total") === 1,
    10_000,
    "the delivery counted",
  );
  assert.equal(receiver.received.length, 3, "delivered once it answered 2xx");
  for (const request of receiver.received) {
    assert.equal(request.headers["webhook-id"], `msg_${id}`, "one id on every attempt");
    const payload = verified(request);
    assert.equal(payload.type, "job.completed");
    assert.equal(payload.data.id, id);
  }
  assert.match(service.stderr(), /"msg":"webhook delivered"/);
});

Deno.test("webhook settings: a secret is needed, in whsec_ form; lists are checked", () => {
  const load = (env: Record<string, string>) => loadConfig((name) => env[name]);
  assert.throws(
    () => load({ WEBHOOK_URLS: "https://hooks.example/q" }),
    /WEBHOOK_URLS and WEBHOOK_ALLOWED_ORIGINS need WEBHOOK_SECRET/,
  );
  assert.throws(() => load({ WEBHOOK_SECRET: "s3cret" }), /WEBHOOK_SECRET must be whsec_/);
  assert.throws(() => load({ WEBHOOK_SECRET: `whsec_${btoa("short")}` }), /holds 5 bytes/);
  assert.throws(() => load({ WEBHOOK_URLS: "ftp://x/" }), /WEBHOOK_URLS must list http\(s\) URLs/);
  assert.throws(
    () => load({ WEBHOOK_ALLOWED_ORIGINS: "https://a.example/path" }),
    /WEBHOOK_ALLOWED_ORIGINS must list origins/,
  );
  assert.throws(
    () => load({ WEBHOOK_ALLOW_PRIVATE: "maybe" }),
    /WEBHOOK_ALLOW_PRIVATE must be 1 or 0/,
  );
  const { config } = load({
    WEBHOOK_SECRET: SECRET,
    WEBHOOK_URLS: "https://a.example/q, https://b.example",
    WEBHOOK_ALLOWED_ORIGINS: "HTTPS://Hooks.Example:443",
    WEBHOOK_RETRY_FOR: "2h",
  });
  assert.deepEqual(config.webhookUrls, ["https://a.example/q", "https://b.example/"]);
  assert.deepEqual(config.webhookAllowedOrigins, ["https://hooks.example"]);
  assert.equal(config.webhookRetryForMs, 7_200_000);
  assert.equal(config.webhookAllowPrivate, false);
  assert.equal(config.idempotencyTtlMs, 86_400_000);
});

const haveRedis = await hasRedisServer();

Deno.test({
  name: "webhooks on redis: two instances deliver each job's end exactly once",
  ignore: !haveRedis,
  async fn() {
    // Slow answers: an instance that did not respect another's lease would send again meanwhile.
    await using receiver = await Receiver.start(async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return 200;
    });
    const redis = await RedisServer.start();
    const instances: Instance[] = [];
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      const args = [
        "--store",
        "redis",
        "--redis-url",
        redis.url,
        "--offline-delay-ms",
        "0",
        "--log-level",
        "warn",
        ...webhookFlags([`${receiver.url}/all`], [
          "--webhook-allowed-origins",
          receiver.url,
          "--webhook-allow-private",
          "1",
        ]),
      ];
      instances.push(...await Promise.all(["A", "B"].map((name) => Instance.start(name, args))));
      const [a, b] = instances as [Instance, Instance];
      const ids = await Promise.all([
        submitted(a.url, { topic: "tea one" }),
        submitted(b.url, { topic: "tea two" }),
        submitted(a.url, { topic: "tea three", webhook: `${receiver.url}/mine` }),
        submitted(b.url, { topic: "tea four" }),
      ]);
      const expected = ids.length + 1; // one job has its own webhook too
      await client.connect();
      // Nothing left to send or to turn into deliveries: no attempt can start after this.
      await waitFor(
        async () =>
          receiver.received.length >= expected &&
          await client.zcard("qf:hooks:due") === 0 && await client.zcard("qf:ended") === 0,
        60_000,
        "every delivery made",
      );
      const sent = receiver.received.map((r) => `${r.headers["webhook-id"]} ${r.path}`).sort();
      const wanted = [
        ...ids.map((id) => `msg_${id} /all`),
        `msg_${ids[2]} /mine`,
      ].sort();
      assert.deepEqual(sent, wanted, "each job's end once to each endpoint");
      for (const request of receiver.received) {
        assert.equal(verified(request).type, "job.completed");
      }
      const counts = await Promise.all(
        [a, b].map((i) => counter(i.url, "quillflow_webhook_deliveries_total")),
      );
      assert.equal(counts[0]! + counts[1]!, expected);
    } finally {
      client.disconnect();
      await stopAll(instances, redis);
    }
  },
});
