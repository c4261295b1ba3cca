import assert from "node:assert/strict";
import { collectEvents } from "../testing/sse_client.ts";
import { startTestServer, submit } from "./_server.ts";

interface Case {
  name: string;
  path: string;
  init?: RequestInit;
  status?: number;
}

const json = (body: string): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body,
});

function battery(jobId: string): Case[] {
  const uuid = "00000000-0000-4000-8000-000000000000";
  const invalidUtf8 = new Uint8Array([
    0x7b,
    0x22,
    0x74,
    0x6f,
    0x70,
    0x69,
    0x63,
    0x22,
    0x3a,
    0x22,
    0xff,
    0xfe,
    0x22,
    0x7d,
  ]);
  const form = (body: string | Uint8Array<ArrayBuffer>): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const encoder = new TextEncoder();
  const multipartBytes = (value: number[]) =>
    new Uint8Array([
      ...encoder.encode('--b\r\ncontent-disposition: form-data; name="topic"\r\n\r\n'),
      ...value,
      ...encoder.encode("\r\n--b--\r\n"),
    ]);
  const multipartFile = new FormData();
  multipartFile.set("topic", new File(["x"], "topic.txt"));
  return [
    // Methods
    { name: "PUT /api/jobs", path: "/api/jobs", init: { method: "PUT" }, status: 405 },
    { name: "PATCH /api/jobs", path: "/api/jobs", init: { method: "PATCH" }, status: 405 },
    { name: "DELETE /api/jobs", path: "/api/jobs", init: { method: "DELETE" }, status: 405 },
    { name: "POST /healthz", path: "/healthz", init: { method: "POST" }, status: 405 },
    {
      name: "POST /api/jobs/{id}",
      path: `/api/jobs/${jobId}`,
      init: { method: "POST" },
      status: 405,
    },
    {
      name: "PUT /api/jobs/{id}",
      path: `/api/jobs/${jobId}`,
      init: { method: "PUT" },
      status: 405,
    },
    {
      name: "POST events",
      path: `/api/jobs/${jobId}/events`,
      init: { method: "POST" },
      status: 405,
    },
    {
      name: "DELETE events",
      path: `/api/jobs/${jobId}/events`,
      init: { method: "DELETE" },
      status: 405,
    },
    { name: "GET /start-job", path: "/start-job", status: 405 },
    {
      name: "POST /progress/{id}",
      path: `/progress/${jobId}`,
      init: { method: "POST" },
      status: 405,
    },
    { name: "OPTIONS without CORS", path: "/api/jobs", init: { method: "OPTIONS" }, status: 405 },
    // Paths and ids
    { name: "unknown path", path: "/api/nothing", status: 404 },
    { name: "dot-dot id", path: "/api/jobs/..%2F..%2Fetc%2Fpasswd", status: 404 },
    { name: "encoded dots", path: "/api/jobs/%2e%2e", status: 404 },
    { name: "NUL id", path: "/api/jobs/%00", status: 404 },
    { name: "NUL in events id", path: "/api/jobs/%00/events", status: 404 },
    { name: "very long id", path: `/api/jobs/${"a".repeat(8_000)}`, status: 404 },
    { name: "uppercase uuid", path: `/api/jobs/${jobId.toUpperCase()}`, status: 404 },
    { name: "unknown uuid", path: `/api/jobs/${uuid}`, status: 404 },
    { name: "unknown uuid events", path: `/api/jobs/${uuid}/events`, status: 404 },
    { name: "cancel unknown", path: `/api/jobs/${uuid}`, init: { method: "DELETE" }, status: 404 },
    { name: "extra segment", path: `/api/jobs/${jobId}/events/more`, status: 404 },
    { name: "empty id", path: "/api/jobs//events", status: 404 },
    { name: "unicode id", path: "/api/jobs/%F0%9F%92%A9", status: 404 },
    { name: "script id", path: "/api/jobs/%3Cscript%3E", status: 404 },
    { name: "static traversal", path: "/static/..%2Fdeno.json", status: 404 },
    { name: "unknown asset", path: "/static/nope.js", status: 404 },
    // Query parameters
    { name: "limit=0", path: "/api/jobs?limit=0", status: 400 },
    { name: "limit=101", path: "/api/jobs?limit=101", status: 400 },
    { name: "limit=abc", path: "/api/jobs?limit=abc", status: 400 },
    { name: "limit=%00", path: "/api/jobs?limit=%00", status: 400 },
    { name: "limit huge", path: `/api/jobs?limit=${"9".repeat(400)}`, status: 400 },
    { name: "lastEventId=-1", path: `/api/jobs/${jobId}/events?lastEventId=-1`, status: 400 },
    {
      name: "lastEventId huge",
      path: `/api/jobs/${jobId}/events?lastEventId=99999999999999999999`,
      status: 400,
    },
    {
      name: "Last-Event-ID text",
      path: `/api/jobs/${jobId}/events`,
      init: { headers: { "last-event-id": "abc" } },
      status: 400,
    },
    // Content types and headers
    {
      name: "no content type",
      path: "/api/jobs",
      init: { method: "POST", body: new Uint8Array([1, 2, 3]) },
      status: 415,
    },
    {
      name: "text/plain",
      path: "/api/jobs",
      init: { method: "POST", headers: { "content-type": "text/plain" }, body: "topic" },
      status: 415,
    },
    {
      name: "xml",
      path: "/api/jobs",
      init: { method: "POST", headers: { "content-type": "application/xml" }, body: "<topic/>" },
      status: 415,
    },
    {
      name: "multipart without boundary",
      path: "/api/jobs",
      init: { method: "POST", headers: { "content-type": "multipart/form-data" }, body: "x" },
      status: 400,
    },
    {
      name: "multipart file topic",
      path: "/api/jobs",
      init: { method: "POST", body: multipartFile },
      status: 400,
    },
    // Bodies
    { name: "empty JSON body", path: "/api/jobs", init: json(""), status: 400 },
    { name: "malformed JSON", path: "/api/jobs", init: json("{topic: tea}"), status: 400 },
    { name: "truncated JSON", path: "/api/jobs", init: json('{"topic": "tea"'), status: 400 },
    { name: "JSON array", path: "/api/jobs", init: json('["tea"]'), status: 400 },
    { name: "JSON string", path: "/api/jobs", init: json('"tea"'), status: 400 },
    { name: "JSON null", path: "/api/jobs", init: json("null"), status: 400 },
    { name: "JSON number", path: "/api/jobs", init: json("42"), status: 400 },
    { name: "missing topic", path: "/api/jobs", init: json('{"title":"tea"}'), status: 400 },
    { name: "numeric topic", path: "/api/jobs", init: json('{"topic":5}'), status: 400 },
    { name: "null topic", path: "/api/jobs", init: json('{"topic":null}'), status: 400 },
    { name: "array topic", path: "/api/jobs", init: json('{"topic":["a"]}'), status: 400 },
    { name: "object topic", path: "/api/jobs", init: json('{"topic":{"a":1}}'), status: 400 },
    { name: "empty topic", path: "/api/jobs", init: json('{"topic":""}'), status: 400 },
    { name: "blank topic", path: "/api/jobs", init: json('{"topic":" \\n\\t "}'), status: 400 },
    {
      name: "501-character topic",
      path: "/api/jobs",
      init: json(JSON.stringify({ topic: "x".repeat(501) })),
      status: 400,
    },
    {
      name: "control character",
      path: "/api/jobs",
      init: json('{"topic":"tea\\u0001"}'),
      status: 400,
    },
    { name: "DEL character", path: "/api/jobs", init: json('{"topic":"tea\\u007f"}'), status: 400 },
    {
      name: "escape sequence",
      path: "/api/jobs",
      init: json('{"topic":"\\u001b[31mred"}'),
      status: 400,
    },
    { name: "NUL in topic", path: "/api/jobs", init: json('{"topic":"tea\\u0000"}'), status: 400 },
    { name: "lone CR", path: "/api/jobs", init: json('{"topic":"a\\rb"}'), status: 400 },
    { name: "lone surrogate", path: "/api/jobs", init: json('{"topic":"\\ud800"}'), status: 400 },
    {
      name: "invalid UTF-8",
      path: "/api/jobs",
      init: { method: "POST", headers: { "content-type": "application/json" }, body: invalidUtf8 },
      status: 400,
    },
    // Topics that show nothing
    {
      name: "zero-width topic",
      path: "/api/jobs",
      init: json('{"topic":"\\u200B\\u200C\\u200D\\u2060\\uFEFF"}'),
      status: 400,
    },
    {
      name: "soft hyphen and spaces",
      path: "/api/jobs",
      init: json('{"topic":" \\u00AD \\u200B\\t\\u3000"}'),
      status: 400,
    },
    { name: "Hangul filler", path: "/api/jobs", init: json('{"topic":"\\u3164"}'), status: 400 },
    {
      name: "variation selector and word joiner",
      path: "/api/jobs",
      init: json('{"topic":"\\uFE0F\\u2060"}'),
      status: 400,
    },
    {
      name: "lone combining mark",
      path: "/api/jobs",
      init: json('{"topic":"\\u0301"}'),
      status: 400,
    },
    {
      name: "form: zero-width topic",
      path: "/api/jobs",
      init: form("topic=%E2%80%8B%E2%81%A0"),
      status: 400,
    },
    // Bytes that are not UTF-8, in every body type
    { name: "form: %FF in topic", path: "/api/jobs", init: form("topic=%FF%FEtea"), status: 400 },
    {
      name: "compat form: %FF in topic",
      path: "/start-job",
      init: form("topic=tea%FF"),
      status: 400,
    },
    {
      name: "form: overlong encoding",
      path: "/api/jobs",
      init: form("topic=%C0%AFtea"),
      status: 400,
    },
    {
      name: "form: encoded lone surrogate",
      path: "/api/jobs",
      init: form("topic=%ED%A0%80tea"),
      status: 400,
    },
    {
      name: "form: truncated sequence in another field",
      path: "/api/jobs",
      init: form("title=%E2%82&topic=tea"),
      status: 400,
    },
    {
      name: "form: raw byte not UTF-8",
      path: "/api/jobs",
      init: form(new Uint8Array([...encoder.encode("topic=tea"), 0xff])),
      status: 400,
    },
    {
      name: "multipart: topic not UTF-8",
      path: "/api/jobs",
      init: {
        method: "POST",
        headers: { "content-type": "multipart/form-data; boundary=b" },
        body: multipartBytes([0x74, 0x65, 0x61, 0xff]),
      },
      status: 400,
    },
    {
      name: "body over 16 KiB",
      path: "/api/jobs",
      init: json(JSON.stringify({ topic: "tea", pad: "x".repeat(20_000) })),
      status: 413,
    },
    {
      name: "form over 16 KiB",
      path: "/api/jobs",
      init: { method: "POST", body: new URLSearchParams({ topic: "x".repeat(20_000) }) },
      status: 413,
    },
    {
      name: "form without topic",
      path: "/api/jobs",
      init: { method: "POST", body: new URLSearchParams({ title: "tea" }) },
      status: 400,
    },
    {
      name: "compat: no topic",
      path: "/start-job",
      init: { method: "POST", body: new URLSearchParams({}) },
      status: 400,
    },
    {
      name: "compat: long topic",
      path: "/start-job",
      init: { method: "POST", body: new URLSearchParams({ topic: "y".repeat(600) }) },
      status: 400,
    },
    {
      name: "compat: text/plain",
      path: "/start-job",
      init: { method: "POST", headers: { "content-type": "text/plain" }, body: "tea" },
      status: 415,
    },
  ];
}

Deno.test("a battery of malformed requests gets 4xx JSON errors and the service stays healthy", async () => {
  const server = await startTestServer();
  try {
    const job = await submit(server.url, "Known job");
    const cases = battery(job.id);
    assert.ok(cases.length >= 50, `${cases.length} cases`);
    for (const c of cases) {
      const response = await fetch(server.url + c.path, c.init);
      const text = await response.text();
      assert.equal(
        response.status,
        c.status,
        `${c.name}: ${response.status} ${text.slice(0, 200)}`,
      );
      assert.match(response.headers.get("content-type") ?? "", /^application\/json/, c.name);
      const body = JSON.parse(text);
      assert.equal(typeof body.error?.code, "string", c.name);
      assert.equal(typeof body.error?.message, "string", c.name);
      if (c.status === 405) assert.ok(response.headers.get("allow"), `${c.name}: Allow header`);
    }
    // Still healthy, and still doing real work.
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: "ok" });
    const after = await submit(server.url, "After the battery");
    assert.equal(
      (await collectEvents(`${server.url}/api/jobs/${after.id}/events`)).at(-1)?.event,
      "complete",
    );
    // No malformed request created a job.
    const list = await (await fetch(`${server.url}/api/jobs?limit=100`)).json();
    assert.equal(list.jobs.length, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a raw request with a broken HTTP framing does not hurt the service", async () => {
  const server = await startTestServer();
  try {
    const { port } = new URL(server.url);
    for (
      const raw of [
        "GET /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        'POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"topic"',
        "\u0000\u0001\u0002 garbage\r\n\r\n",
      ]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      await conn.write(new TextEncoder().encode(raw));
      // Whatever the server answers (or not), the connection is then dropped.
      const read = conn.read(new Uint8Array(1024)).catch(() => null);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([read, new Promise((resolve) => timer = setTimeout(resolve, 200))]);
      clearTimeout(timer);
      conn.close();
      await read;
    }
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { status: "ok" });
  } finally {
    await server.shutdown();
  }
});

Deno.test("form bodies are read strictly: not UTF-8 is invalid_utf8, percent-encoded text arrives unchanged", async () => {
  const server = await startTestServer(["--store", "memory"]);
  try {
    for (const path of ["/api/jobs", "/start-job"]) {
      const refused = await fetch(`${server.url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "topic=caf%E9",
      });
      assert.equal(refused.status, 400, path);
      assert.deepEqual((await refused.json()).error.code, "invalid_utf8", path);
    }
    // What URLSearchParams would read the same way is read the same way.
    const cases: [body: string, topic: string][] = [
      ["topic=%F0%9F%8D%B5+tea%21", "🍵 tea!"],
      ["%74opic=a%2Bb%3Dc%26d", "a+b=c&d"],
      ["x=1&&topic=first&topic=second", "first"],
      ["topic=100%+sure%zz", "100% sure%zz"],
      ["topic=%EF%BB%BFbom", "bom"],
    ];
    for (const [body, topic] of cases) {
      assert.equal(new URLSearchParams(body).get("topic")?.trim(), topic, body);
      const response = await fetch(`${server.url}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
      });
      const job = await response.json();
      assert.equal(response.status, 202, JSON.stringify(job));
      assert.equal(job.topic, topic, body);
    }
  } finally {
    await server.shutdown();
  }
});
