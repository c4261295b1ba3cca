import assert from "node:assert/strict";
import { startOpenAiServer } from "../testing/openai_server.ts";
import { startService } from "./service_process.ts";
import { submit, waitForValue } from "./_server.ts";

Deno.test("behind HTTP_PROXY every LLM call, streamed ones too, goes through the proxy", async () => {
  const llm = await startOpenAiServer();
  // A forward proxy: it gets the absolute URL of a host only it can reach, and passes the
  // request on to the test LLM server.
  const seen: { host: string; stream: boolean }[] = [];
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const target = new URL(request.url);
    const body = await request.text();
    seen.push({ host: target.host, stream: JSON.parse(body || "{}").stream === true });
    const upstream = new URL(target.pathname + target.search, llm.baseUrl);
    return await fetch(upstream, { method: request.method, headers: request.headers, body });
  });
  try {
    await using service = await startService(
      [
        "--store",
        "memory",
        "--llm-provider",
        "openai",
        "--openai-base-url",
        "http://llm.invalid/v1",
      ],
      { HTTP_PROXY: `http://127.0.0.1:${proxy.addr.port}`, OPENAI_API_KEY: "k" },
    );
    const { id } = await submit(service.url, "Proxies");
    const job = await waitForValue("the job to end", async () => {
      const snapshot = await (await fetch(`${service.url}/api/jobs/${id}`)).json();
      return snapshot.status === "completed" || snapshot.status === "failed" ? snapshot : null;
    });
    assert.equal(job.status, "completed", `${job.error}\n${service.stderr()}`);
    assert.ok(seen.length >= 3, `the proxy saw ${seen.length} calls`);
    assert.ok(seen.every((call) => call.host === "llm.invalid"));
    assert.ok(seen.some((call) => call.stream), "streamed calls went through the proxy too");
    assert.equal(llm.requests.length, seen.length, "every call the LLM got came through the proxy");
  } finally {
    await proxy.shutdown();
    await llm.close();
  }
});
