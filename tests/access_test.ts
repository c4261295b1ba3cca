import assert from "node:assert/strict";
import { createLogger } from "../src/core/logger.ts";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer, submit } from "./_server.ts";

const TOKEN = "s3cret-token-for-tests";

Deno.test("API_TOKEN guards the API; stream tokens open one job's stream", async (t) => {
  // No hold after a compatibility stream's last message, so reading it to its end returns.
  const server = await startTestServer(["--api-token", TOKEN, "--compat-hold-ms", "0"]);
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    await t.step(
      "no token, a wrong token or a wrong scheme is a 401 with WWW-Authenticate",
      async () => {
        for (
          const headers of [
            {},
            { authorization: "Bearer wrong" },
            { authorization: TOKEN },
            { authorization: `Basic ${TOKEN}` },
          ] as Record<string, string>[]
        ) {
          for (
            const [path, method] of [
              ["/api/jobs", "GET"],
              ["/api/jobs", "POST"],
              ["/start-job", "POST"],
            ] as const
          ) {
            const res = await fetch(`${server.url}${path}`, { method, headers });
            assert.equal(res.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
            assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
            assert.equal((await res.json()).error.code, "unauthorized");
          }
        }
      },
    );
    await t.step("the page, its assets and health stay open", async () => {
      for (const path of ["/", "/healthz", "/metrics"]) {
        const res = await fetch(`${server.url}${path}`);
        await res.body?.cancel();
        assert.equal(res.status, 200, path);
      }
    });
    const job = await submit(server.url, "Guarded", auth);
    const other = await submit(server.url, "Other", auth);
    await t.step(
      "the bearer token works everywhere and the snapshot carries a stream token",
      async () => {
        assert.equal(typeof job.streamToken, "string");
        assert.notEqual(job.streamToken, other.streamToken);
        const read = await (await fetch(`${server.url}/api/jobs/${job.id}`, { headers: auth }))
          .json();
        assert.equal(read.streamToken, job.streamToken);
        const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`, {
          headers: auth,
        });
        assert.equal(events.at(-1)?.event, "complete");
      },
    );
    await t.step("a stream token opens its own job's stream, as EventSource needs", async () => {
      const events = await collectEvents(
        `${server.url}/api/jobs/${job.id}/events?token=${job.streamToken}`,
      );
      assert.equal(events.at(-1)?.event, "complete");
      const compat = await fetch(`${server.url}/progress/${job.id}?token=${job.streamToken}`);
      assert.equal(compat.status, 200);
      assert.match(await compat.text(), /"step":"complete"/);
    });
    await t.step("a stream token opens nothing else", async () => {
      const wrongJob = await fetch(
        `${server.url}/api/jobs/${other.id}/events?token=${job.streamToken}`,
      );
      assert.equal(wrongJob.status, 401);
      await wrongJob.body?.cancel();
      const notAStream = await fetch(`${server.url}/api/jobs/${job.id}?token=${job.streamToken}`);
      assert.equal(notAStream.status, 401);
      await notAStream.body?.cancel();
      const asBearer = await fetch(`${server.url}/api/jobs`, {
        headers: { authorization: `Bearer ${job.streamToken}` },
      });
      assert.equal(asBearer.status, 401);
      await asBearer.body?.cancel();
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("CORS is off by default and follows CORS_ORIGINS when set", async (t) => {
  await t.step("off: no CORS headers for any origin", async () => {
    const server = await startTestServer();
    try {
      const res = await fetch(`${server.url}/api/jobs`, {
        headers: { origin: "http://evil.example" },
      });
      await res.body?.cancel();
      assert.equal(res.headers.get("access-control-allow-origin"), null);
    } finally {
      await server.shutdown();
    }
  });
  await t.step("on: listed origins get headers and preflights; others do not", async () => {
    const server = await startTestServer([
      "--cors-origins",
      "http://app.example, http://other.example",
    ]);
    try {
      const ok = await fetch(`${server.url}/api/jobs`, {
        headers: { origin: "http://app.example" },
      });
      await ok.body?.cancel();
      assert.equal(ok.headers.get("access-control-allow-origin"), "http://app.example");
      assert.match(ok.headers.get("vary") ?? "", /origin/i);
      const no = await fetch(`${server.url}/api/jobs`, {
        headers: { origin: "http://evil.example" },
      });
      await no.body?.cancel();
      assert.equal(no.headers.get("access-control-allow-origin"), null);
      const preflight = await fetch(`${server.url}/api/jobs`, {
        method: "OPTIONS",
        headers: { origin: "http://other.example", "access-control-request-method": "POST" },
      });
      await preflight.body?.cancel();
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
      assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /last-event-id/);
      const refused = await fetch(`${server.url}/api/jobs`, {
        method: "OPTIONS",
        headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
      });
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).error.code, "cors_origin_not_allowed");
    } finally {
      await server.shutdown();
    }
  });
  await t.step("a preflight grants only a route's own method, and 404s unknown paths", async () => {
    const server = await startTestServer([
      "--store",
      "memory",
      "--cors-origins",
      "http://app.example",
    ]);
    const preflight = (path: string, method: string) =>
      fetch(`${server.url}${path}`, {
        method: "OPTIONS",
        headers: { origin: "http://app.example", "access-control-request-method": method },
      });
    try {
      const job = await submit(server.url, "Preflighted");
      for (const [path, method] of [["/api/jobs", "POST"], [`/api/jobs/${job.id}`, "DELETE"]]) {
        const granted = await preflight(path!, method!);
        await granted.body?.cancel();
        assert.equal(granted.status, 204, `${method} ${path}`);
        assert.equal(granted.headers.get("access-control-allow-methods"), method);
      }
      for (const path of ["/nothing/here", "/api/job", `/api/jobs/${job.id}/events/more`]) {
        const unknown = await preflight(path, "GET");
        assert.equal(unknown.status, 404, path);
        assert.equal((await unknown.json()).error.code, "not_found", path);
      }
      for (
        const [path, method] of [
          ["/api/jobs", "DELETE"],
          ["/api/jobs", "PUT"],
          [`/api/jobs/${job.id}`, "PATCH"],
          ["/healthz", "POST"],
          ["/start-job", "GET"],
        ]
      ) {
        const refused = await preflight(path!, method!);
        assert.equal(refused.status, 405, `${method} ${path}`);
        assert.equal(refused.headers.get("access-control-allow-methods"), null);
        assert.ok(refused.headers.get("allow"), `${method} ${path}: Allow`);
        assert.equal((await refused.json()).error.code, "method_not_allowed");
      }
    } finally {
      await server.shutdown();
    }
  });
  await t.step(
    "with CORS on, every answer varies on Origin: allowed, refused or absent",
    async () => {
      const server = await startTestServer([
        "--store",
        "memory",
        "--cors-origins",
        "http://app.example",
      ]);
      try {
        const requests: [string, RequestInit][] = [
          ["/api/jobs", { headers: { origin: "http://app.example" } }],
          ["/api/jobs", { headers: { origin: "http://evil.example" } }],
          ["/api/jobs", {}],
          ["/nothing", { headers: { origin: "http://evil.example" } }],
          ["/healthz", { method: "POST", headers: { origin: "http://evil.example" } }],
          ["/api/jobs", {
            method: "OPTIONS",
            headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
          }],
          ["/api/jobs", {
            method: "OPTIONS",
            headers: { origin: "http://app.example", "access-control-request-method": "POST" },
          }],
        ];
        for (const [path, init] of requests) {
          const response = await fetch(`${server.url}${path}`, init);
          await response.body?.cancel();
          const what = `${init.method ?? "GET"} ${path} ${JSON.stringify(init.headers ?? {})}`;
          const vary = (response.headers.get("vary") ?? "").split(",").map((v) => v.trim());
          assert.deepEqual(vary.filter((v) => v.toLowerCase() === "origin"), ["origin"], what);
        }
      } finally {
        await server.shutdown();
      }
    },
  );
});

Deno.test("GET /metrics reports jobs, streams, events and LLM calls in Prometheus text", async () => {
  const server = await startTestServer();
  try {
    const job = await submit(server.url, "Measured");
    const events = await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    const res = await fetch(`${server.url}/metrics`);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const value = (name: string) =>
      Number(
        new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1],
      );
    assert.equal(value('quillflow_jobs{status="completed"}'), 1);
    assert.equal(value("quillflow_jobs_running"), 0);
    assert.equal(value("quillflow_jobs_queued"), 0);
    assert.equal(value("quillflow_sse_streams_open"), 0);
    assert.ok(value("quillflow_sse_items_sent_total") >= events.length);
    assert.equal(value("quillflow_llm_calls_total"), 5);
    assert.equal(value("quillflow_llm_errors_total"), 0);
    assert.equal(value("quillflow_llm_latency_seconds_count"), 5);
    assert.equal(value('quillflow_llm_latency_seconds_bucket{le="+Inf"}'), 5);
    assert.match(text, /^# TYPE quillflow_llm_latency_seconds histogram$/m);
    // One process, no shared line: those gauges belong to STORE=redis.
    assert.doesNotMatch(text, /quillflow_shared_jobs/);
  } finally {
    await server.shutdown();
  }
});

interface Family {
  type: string;
  help: string;
  samples: { name: string; labels: string; value: number }[];
}

/** Parses Prometheus text exposition strictly, failing on any line it does not understand. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  assert.ok(text.endsWith("\n"), "ends with a line break");
  for (const line of text.slice(0, -1).split("\n")) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/
      .exec(line);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (help) {
      assert.ok(!helps.has(help[1]!), `one HELP for ${help[1]}`);
      helps.set(help[1]!, help[2]!);
    } else if (type) {
      const name = type[1]!;
      assert.ok(!families.has(name), `one TYPE for ${name}`);
      assert.ok(helps.has(name), `HELP before TYPE for ${name}`);
      families.set(name, { type: type[2]!, help: helps.get(name)!, samples: [] });
    } else if (sample) {
      const [, name = "", labels = "", raw = ""] = sample;
      // A histogram's samples are its name with _bucket, _sum and _count.
      const base = name.replace(/_(bucket|sum|count)$/, "");
      const family = families.get(name) ??
        (families.get(base)?.type === "histogram" ? families.get(base) : undefined);
      assert.ok(family, `sample ${name} follows the TYPE of its family`);
      const value = Number(raw);
      assert.ok(!Number.isNaN(value), `${line}: a number`);
      family.samples.push({ name, labels, value });
    } else {
      assert.fail(`a line that is no HELP, TYPE or sample: ${JSON.stringify(line)}`);
    }
  }
  return families;
}

Deno.test("GET /metrics types every metric: counters end in _total, only counters do", async () => {
  const server = await startTestServer(["--store", "memory"]);
  try {
    const scrape = async () => parseExposition(await (await fetch(`${server.url}/metrics`)).text());
    const before = await scrape();
    const job = await submit(server.url, "Typed metrics");
    await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    const after = await scrape();
    const types = Object.fromEntries([...after].map(([name, f]) => [name, f.type]));
    assert.deepEqual(types, {
      quillflow_jobs: "gauge",
      quillflow_jobs_running: "gauge",
      quillflow_jobs_queued: "gauge",
      quillflow_sse_streams_open: "gauge",
      quillflow_sse_items_sent_total: "counter",
      quillflow_sse_stalled_drops_total: "counter",
      quillflow_llm_calls_total: "counter",
      quillflow_llm_errors_total: "counter",
      quillflow_http_requests_total: "counter",
      quillflow_llm_latency_seconds: "histogram",
    });
    for (const [name, family] of after) {
      assert.equal(family.type === "counter", name.endsWith("_total"), name);
      assert.ok(family.samples.length > 0, `${name} has a sample`);
      if (family.type !== "counter") continue;
      // A counter only goes up.
      const was = before.get(name)?.samples[0]?.value ?? 0;
      assert.ok((family.samples[0]?.value ?? 0) >= was, `${name} went down`);
      assert.ok(family.samples.every((s) => s.value >= 0), name);
    }
    assert.ok(after.get("quillflow_sse_items_sent_total")!.samples[0]!.value > 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("logs are one JSON line per job transition, and per request at debug level", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger("debug", (line) => lines.push(JSON.parse(line)));
  const server = await startTestServer([], { logger });
  try {
    const job = await submit(server.url, "Logged");
    await collectEvents(`${server.url}/api/jobs/${job.id}/events`);
    const forJob = lines.filter((l) => l.job === job.id).map((l) => l.msg);
    assert.deepEqual(forJob.filter((m) => String(m).startsWith("job ")), [
      "job queued",
      "job started",
      "job completed",
    ]);
    const requests = lines.filter((l) => l.msg === "request");
    assert.ok(
      requests.some((l) => l.method === "POST" && l.path === "/api/jobs" && l.status === 202),
    );
    for (const line of lines) {
      assert.equal(typeof line.time, "string");
      assert.ok(["debug", "info", "warn", "error"].includes(String(line.level)));
    }
  } finally {
    await server.shutdown();
  }
  const quiet: string[] = [];
  createLogger("warn", (line) => quiet.push(line)).log("info", "hidden");
  assert.deepEqual(quiet, []);
});
