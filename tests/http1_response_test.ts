import assert from "node:assert/strict";
import { Http1Response, Http1SyntaxError, MAX_HEAD_BYTES } from "../src/llm/http1_response.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Feeds `text` split at `cuts`; returns the body, whether it ended, and the parser. */
function read(text: string, cuts: number[] = []) {
  const bytes = encoder.encode(text);
  let body = "";
  const response = new Http1Response((piece) => body += decoder.decode(piece, { stream: true }));
  let done = false;
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    done = response.feed(bytes.subarray(from, cut));
    from = cut;
    if (done) break;
  }
  return { body, done, response };
}

const CHUNKED = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" +
  "Transfer-Encoding: chunked\r\n\r\n" +
  "e\r\ndata: héllo\n\n\r\n" + "A;name=x\r\n0123456789\r\n" + "0\r\nX-Trailer: t\r\n\r\n";

Deno.test("a chunked response reads the same at every split, in one piece and byte by byte", () => {
  const whole = read(CHUNKED);
  assert.equal(whole.done, true);
  assert.equal(whole.body, "data: héllo\n\n0123456789");
  assert.equal(whole.response.headers.get("content-type"), "text/event-stream");
  const length = encoder.encode(CHUNKED).length;
  for (let cut = 1; cut < length; cut++) {
    const split = read(CHUNKED, [cut]);
    assert.equal(split.body, whole.body, `split at ${cut}`);
    assert.equal(split.done, true, `split at ${cut}`);
  }
  const bytewise = read(CHUNKED, Array.from({ length: length - 1 }, (_, i) => i + 1));
  assert.equal(bytewise.body, whole.body);
  assert.equal(bytewise.response.reusable, true);
});

Deno.test("a Content-Length body ends at its length; the bytes after it are not its own", () => {
  const text = "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nerrorHTTP/1.1";
  const { body, done, response } = read(text);
  assert.equal(done, true);
  assert.equal(body, "error");
  assert.equal(response.status, 400);
  assert.equal(response.used, encoder.encode(text).length - "HTTP/1.1".length);
});

Deno.test("a body with neither length nor chunks ends with the connection; a cut one does not", () => {
  const open = read("HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: a\n\n");
  assert.equal(open.done, false);
  assert.equal(open.body, "data: a\n\n");
  assert.equal(open.response.reusable, false);
  assert.equal(open.response.close(), true, "the connection's end is the body's end");

  const cut = read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort");
  assert.equal(cut.response.close(), false, "a chunk cut short is a cut response");
  const headless = read("HTTP/1.1 200 OK\r\nContent-Le");
  assert.equal(headless.response.headed, false);
  assert.equal(headless.response.close(), false);
});

Deno.test("interim 1xx heads are skipped; 204 has no body; Connection: close is heard", () => {
  const { body, done, response } = read(
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    [10, 30],
  );
  assert.equal(done, true);
  assert.equal(body, "ok");
  assert.equal(response.status, 200);
  assert.equal(response.reusable, false);
  assert.equal(read("HTTP/1.1 204 No Content\r\n\r\n").done, true);
  assert.equal(
    read("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
      .response.reusable,
    true,
  );
});

Deno.test("what is not an HTTP/1.1 response is an error, and a head cannot grow without bound", () => {
  for (
    const bad of [
      "SSH-2.0-OpenSSH_9.6\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;ext\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ]
  ) {
    assert.throws(() => read(bad), Http1SyntaxError, JSON.stringify(bad));
  }
  const endless = new Http1Response(() => {});
  const line = encoder.encode(`X-Filler: ${"x".repeat(1000)}\r\n`);
  assert.equal(endless.feed(encoder.encode("HTTP/1.1 200 OK\r\n")), false);
  assert.throws(() => {
    for (let sent = 0; sent <= MAX_HEAD_BYTES + line.length; sent += line.length) {
      endless.feed(line);
    }
  }, /head over/);
  const sizeLine = new Http1Response(() => {});
  sizeLine.feed(encoder.encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
  assert.throws(() => sizeLine.feed(encoder.encode(`1;${"x".repeat(5000)}`)), /line over/);
  const digits = new Http1Response(() => {});
  digits.feed(encoder.encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
  assert.throws(() => digits.feed(encoder.encode("1".repeat(14))), /over 13 hex digits/);
});
