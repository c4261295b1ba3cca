import assert from "node:assert/strict";
import { HttpConnectionPool } from "../src/llm/http_connections.ts";
import {
  type ChatTransportErrors,
  streamChatOverSocket,
} from "../src/llm/socket_chat_transport.ts";
import { makeTestDir } from "./test_dir.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Errors that say which kind they are, as the provider's would. */
const errors: ChatTransportErrors = {
  status: (status, text) => new Error(`status ${status}: ${text}`),
  stream: (payload) => new Error(`stream: ${JSON.stringify(payload)}`),
  connection: (cause) => new Error(`connection: ${cause.message}`),
};

const SSE = 'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n' +
  'data: {"choices":[{"delta":{"content":" there"}}]}\n\ndata: [DONE]\n\n';

function chunked(text: string): string {
  const size = encoder.encode(text).length.toString(16);
  return `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n${size}\r\n${text}\r\n0\r\n\r\n`;
}

/** Reads one request (head and `content-length` body) off `conn`; null once it closed. */
async function readRequest(conn: Deno.Conn): Promise<string | null> {
  let text = "";
  const buffer = new Uint8Array(4096);
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end !== -1) {
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (encoder.encode(text.slice(end + 4)).length >= length) return text;
    }
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return null;
    text += decoder.decode(buffer.subarray(0, n));
  }
}

/**
 * A loopback server speaking raw HTTP: `answer(conn, request, k)` handles the k-th request of
 * each connection (0 first) and returns whether to keep the connection for another.
 */
function rawServer(answer: (conn: Deno.Conn, request: string, k: number) => Promise<boolean>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: string[] = [];
  let connections = 0;
  const open = new Set<Deno.Conn>();
  const served = (async () => {
    const handlers: Promise<void>[] = [];
    for await (const conn of listener) {
      connections++;
      open.add(conn);
      handlers.push((async () => {
        for (let k = 0;; k++) {
          const request = await readRequest(conn);
          if (request === null) break;
          requests.push(request);
          if (!await answer(conn, request, k)) break;
        }
        open.delete(conn);
        try {
          conn.close();
        } catch { /* closed by the test */ }
      })());
    }
    await Promise.all(handlers);
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}/v1/chat/completions`,
    requests,
    get connections() {
      return connections;
    },
    async close() {
      listener.close();
      for (const conn of open) conn.close();
      await served;
    },
  };
}

const write = (conn: Deno.Conn, text: string) => conn.write(encoder.encode(text));

function call(url: string, pool: HttpConnectionPool, signal = new AbortController().signal) {
  const deltas: string[] = [];
  const answer = streamChatOverSocket(
    { url, headers: { authorization: "Bearer k" }, body: '{"stream":true}', signal },
    { onDelta: (delta) => deltas.push(delta) },
    errors,
    pool,
  );
  return { answer, deltas };
}

/**
 * A `rawServer` answer that streams the first request of each connection whole and drops any
 * later one with the connection; `thenClose` hangs up right after the first answer.
 */
function answerFirst({ thenClose }: { thenClose: boolean }) {
  return async (conn: Deno.Conn, _request: string, k: number): Promise<boolean> => {
    if (k > 0) return false;
    await write(conn, chunked(SSE));
    return !thenClose;
  };
}

Deno.test("a kept-alive connection the server closed while idle is not used again", async () => {
  // Answers one request per connection, then hangs up without saying so (no Connection: close).
  const server = rawServer(answerFirst({ thenClose: true }));
  const pool = new HttpConnectionPool();
  try {
    for (let i = 0; i < 3; i++) assert.equal(await call(server.url, pool).answer, "Hi there");
    assert.equal(server.connections, 3);
    assert.equal(server.requests.length, 3, "each request reached the server once");
  } finally {
    pool.closeIdle();
    await server.close();
  }
});

Deno.test("a reused connection closed unanswered is replaced once; a new one closed unanswered fails", async () => {
  // The first request of a connection is answered; a second one on it is dropped with the
  // connection, the way a server that timed the connection out at that instant drops it.
  const server = rawServer(answerFirst({ thenClose: false }));
  const pool = new HttpConnectionPool();
  try {
    assert.equal(await call(server.url, pool).answer, "Hi there");
    assert.equal(await call(server.url, pool).answer, "Hi there");
    assert.equal(server.connections, 2, "the dropped request went out again on a new connection");
    assert.equal(server.requests.length, 3, "the dropped one, then its second sending");
  } finally {
    pool.closeIdle();
    await server.close();
  }
  const mute = rawServer(() => Promise.resolve(false));
  try {
    await assert.rejects(call(mute.url, pool).answer, /^Error: connection: /);
    assert.equal(mute.connections, 1, "a new connection is not tried again by the transport");
  } finally {
    pool.closeIdle();
    await mute.close();
  }
});

Deno.test("an answer framed by the connection's end, and an error answer, read whole", async () => {
  const server = rawServer(async (conn, request) => {
    if (request.includes('"fail"')) {
      const body = '{"error":{"message":"no such model"}}';
      await write(conn, `HTTP/1.1 404 Not Found\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
      return true;
    }
    // HTTP/1.0 style: no length, no chunks; the body ends when the connection does.
    await write(conn, `HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n`);
    for (const line of SSE.split("\n\n").slice(0, 2)) await write(conn, `${line}\n\n`);
    return false;
  });
  const pool = new HttpConnectionPool();
  try {
    const { answer, deltas } = call(server.url, pool);
    assert.equal(await answer, "Hi there", "no [DONE]: the connection's end ends the answer");
    assert.deepEqual(deltas, ["Hi", " there"]);
    const failed = streamChatOverSocket(
      { url: server.url, headers: {}, body: '"fail"', signal: new AbortController().signal },
      { onDelta: () => {} },
      errors,
      pool,
    );
    await assert.rejects(failed, /^Error: status 404: \{"error":\{"message":"no such model"\}\}$/);
  } finally {
    pool.closeIdle();
    await server.close();
  }
});

Deno.test("bytes that are not HTTP fail the call and close the connection", async () => {
  let closedByClient = false;
  const server = rawServer(async (conn) => {
    await write(conn, "SSH-2.0-OpenSSH_9.6\r\n\r\n");
    closedByClient = await readRequest(conn) === null;
    return false;
  });
  const pool = new HttpConnectionPool();
  try {
    await assert.rejects(call(server.url, pool).answer, /Not an HTTP\/1\.x status line/);
    await server.close();
    assert.ok(closedByClient);
  } finally {
    pool.closeIdle();
  }
});

Deno.test("https: the stream is read over TLS, certificate checked", async () => {
  await using dir = await makeTestDir("tls");
  const key = `${dir.path}/key.pem`;
  const cert = `${dir.path}/cert.pem`;
  const made = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "subjectAltName=DNS:localhost",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stderr: "piped",
  }).output();
  assert.ok(made.success, decoder.decode(made.stderr));
  const pem = await Deno.readTextFile(cert);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pem,
    key: await Deno.readTextFile(key),
    onListen() {},
  }, () => new Response(SSE, { headers: { "content-type": "text/event-stream" } }));
  const url = `https://localhost:${server.addr.port}/v1/chat/completions`;
  const trusting = new HttpConnectionPool({ caCerts: [pem] });
  const wary = new HttpConnectionPool();
  try {
    assert.equal(await call(url, trusting).answer, "Hi there");
    assert.equal(await call(url, trusting).answer, "Hi there");
    await assert.rejects(
      call(url, wary).answer,
      /^Error: connection: .*(certificate|UnknownIssuer)/i,
    );
  } finally {
    trusting.closeIdle();
    wary.closeIdle();
    await server.shutdown();
  }
});

Deno.test("kept-alive connections do not keep a finished program running", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(SSE, { headers: { "content-type": "text/event-stream" } }),
  );
  const script = `
    import { streamChatOverSocket } from "${new URL(
    "../src/llm/socket_chat_transport.ts",
    import.meta.url,
  )}";
    const answer = await streamChatOverSocket(
      { url: "http://127.0.0.1:${server.addr.port}/v1", headers: {}, body: "{}", signal: new AbortController().signal },
      { onDelta: () => {} },
      { status: Error, stream: Error, connection: (cause) => cause },
    );
    console.log(answer);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // A child still running long after its answer is the failure; killed so the test ends.
  const killer = setTimeout(() => child.kill(), 30_000);
  try {
    const { code, stdout, stderr } = await child.output();
    assert.equal(decoder.decode(stdout).trim(), "Hi there", decoder.decode(stderr));
    assert.equal(code, 0, "the program ended by itself, its connection still pooled");
  } finally {
    clearTimeout(killer);
    await server.shutdown();
  }
});
