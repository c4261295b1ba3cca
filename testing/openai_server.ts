/**
 * A small OpenAI-compatible chat-completions server on loopback, for tests and benchmarks: it
 * answers the article workflow's three kinds of prompt like a model would, streams when asked,
 * records every request (and whether its client aborted it), and can be scripted to fail,
 * hang or return bad output.
 *
 * @module
 */

/** A chat-completions request body, as far as this server reads it. */
export interface ChatRequestBody {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages?: { role: string; content: string }[];
}

/** One request the server received. */
export interface RecordedRequest {
  body: ChatRequestBody;
  /** The user message. */
  prompt: string;
  /** Set when the client went away before the answer was complete. */
  aborted: boolean;
  /** Set once the answer was sent in full. */
  completed: boolean;
  /** The tokens the answer reported (`usage`), when it reported any. */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/**
 * What to answer: text (when streamed, optionally going silent after `stallAfter` pieces, as a
 * model that stalls mid-answer, or dropping the connection after `cutAfter` pieces, as a server
 * or proxy that dies mid-answer), a streamed body sent as it stands in reads of `chunkBytes`
 * (default 7, so lines and characters are cut), an HTTP error, or nothing until the client
 * gives up.
 */
export type ScriptedReply =
  | { content: string; stallAfter?: number; cutAfter?: number }
  | { rawStream: string; chunkBytes?: number }
  | { status: number; message?: string }
  | { hang: true }
  | undefined;

/** Options for {@linkcode startOpenAiServer}. */
export interface OpenAiServerOptions {
  /** Latency of each answer in ms (streamed answers spread their chunks over it). Default 0. */
  delayMs?: number;
  /** Decides the reply to request number `n` (0-based); `undefined` means the default answer. */
  script?: (request: RecordedRequest, n: number) => ScriptedReply;
  /**
   * Reports tokens as OpenAI does: `usage` in every answer, and in a last chunk of a streamed
   * one that asks for it (`stream_options.include_usage`). Default true; false is a server
   * that counts nothing.
   */
  usage?: boolean;
}

/** A running server. */
export interface OpenAiServer {
  /** Base URL to give the client, ending in `/v1`. */
  baseUrl: string;
  /** Every request so far, in arrival order. */
  requests: RecordedRequest[];
  /** Stops the server. */
  close(): Promise<void>;
}

/** The data between `<data>` tags in a prompt, JSON-decoded, in order. */
export function promptData(prompt: string): string[] {
  return [...prompt.matchAll(/<data>(.*?)<\/data>/gs)].map((m) =>
    JSON.parse(m[1] as string) as string
  );
}

/** The answer a well-behaved model would give to one of the workflow's prompts. */
export function defaultAnswer(prompt: string): string {
  const [topic = "", second = ""] = promptData(prompt);
  if (prompt.includes("Create a simple outline")) {
    return `Sure! Here is the outline.\n\n\`\`\`yaml\nsections:\n  - ${
      JSON.stringify(`Introduction to ${topic}`)
    }\n  - ${JSON.stringify(`Key ideas of ${topic}`)}\n  - ${
      JSON.stringify(`The future of ${topic}`)
    }\n\`\`\`\n`;
  }
  if (prompt.includes("Write a short paragraph")) {
    return `This section, ${second}, explains ${topic} in plain words. ` +
      "It gives one example and keeps to about a hundred words in a real run.";
  }
  if (prompt.includes("Rewrite the draft")) {
    return `# All about ${topic}\n\nHave you ever wondered?\n\n${second}`;
  }
  return "I am a test server.";
}

const encoder = new TextEncoder();

/** This server's token count of a text: its words. */
function countTokens(text: string): number {
  return text.split(/\s+/).filter((word) => word !== "").length;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Starts the server on a free loopback port. */
export function startOpenAiServer(options: OpenAiServerOptions = {}): Promise<OpenAiServer> {
  const requests: RecordedRequest[] = [];
  const delayMs = options.delayMs ?? 0;
  let counter = 0;
  const pending = new Set<Promise<unknown>>();

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (request.method !== "POST" || !url.pathname.endsWith("/chat/completions")) {
      return Response.json({ error: { message: "not found" } }, { status: 404 });
    }
    const body = await request.json() as ChatRequestBody;
    const recorded: RecordedRequest = {
      body,
      prompt: body.messages?.findLast((m) => m.role === "user")?.content ?? "",
      aborted: false,
      completed: false,
    };
    requests.push(recorded);
    // `request.signal` also fires after a normal finish: only an early one is a client abort.
    request.signal.addEventListener("abort", () => {
      if (!recorded.completed) recorded.aborted = true;
    }, { once: true });
    const reply = options.script?.(recorded, counter++);
    if (reply && "hang" in reply) {
      if (body.stream) {
        // Headers at once, then silence, as a stalled model would. Deno cancels the body when
        // the client goes away, which is what the tests watch for.
        return new Response(
          new ReadableStream({
            cancel() {
              if (!recorded.completed) recorded.aborted = true;
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      await sleep(3_600_000, request.signal);
      return new Response(null, { status: 499 });
    }
    if (reply && "rawStream" in reply) {
      const bytes = encoder.encode(reply.rawStream);
      const size = reply.chunkBytes ?? 7;
      let at = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (at >= bytes.length) {
              recorded.completed = true;
              return controller.close();
            }
            controller.enqueue(bytes.slice(at, at += size));
          },
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    }
    if (reply && "status" in reply) {
      recorded.completed = true;
      return Response.json({
        error: { message: reply.message ?? "scripted failure", type: "server_error" },
      }, {
        status: reply.status,
      });
    }
    const content = reply?.content ?? defaultAnswer(recorded.prompt);
    const id = `chatcmpl-${counter}`;
    const model = body.model ?? "test-model";
    const promptTokens = countTokens((body.messages ?? []).map((m) => m.content).join(" "));
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: countTokens(content),
      total_tokens: promptTokens + countTokens(content),
    };
    const reportsUsage = options.usage ?? true;
    if (!body.stream) {
      await sleep(delayMs, request.signal);
      recorded.completed = true;
      if (reportsUsage) recorded.usage = usage;
      return Response.json({
        id,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        ...(reportsUsage ? { usage } : {}),
      });
    }
    const pieces = content.match(/\S+\s*|\s+/g) ?? [content];
    const stallAfter = reply && "content" in reply ? reply.stallAfter : undefined;
    const cutAfter = reply && "content" in reply ? reply.cutAfter : undefined;
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        const chunk = (delta: Record<string, string>, finish: string | null) =>
          encoder.encode(`data: ${
            JSON.stringify({
              id,
              object: "chat.completion.chunk",
              created: Math.floor(Date.now() / 1000),
              model,
              choices: [{ index: 0, delta, finish_reason: finish }],
            })
          }\n\n`);
        try {
          controller.enqueue(chunk({ role: "assistant", content: "" }, null));
          const step = delayMs / pieces.length;
          for (const [i, piece] of pieces.entries()) {
            if (i === stallAfter) await sleep(3_600_000, request.signal);
            if (i === cutAfter) return controller.close();
            await sleep(step, request.signal);
            if (request.signal.aborted) return;
            controller.enqueue(chunk({ content: piece }, null));
          }
          controller.enqueue(chunk({}, "stop"));
          if (reportsUsage && body.stream_options?.include_usage === true) {
            recorded.usage = usage;
            controller.enqueue(encoder.encode(`data: ${
              JSON.stringify({
                id,
                object: "chat.completion.chunk",
                created: Math.floor(Date.now() / 1000),
                model,
                choices: [],
                usage,
              })
            }\n\n`));
          }
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          recorded.completed = true;
          controller.close();
        } catch {
          // The client went away mid-stream.
        }
      },
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream",
        // A body that ends short of its declared length makes the server drop the connection,
        // as a crash would. (An errored body does the same, but Deno prints each one.)
        ...(cutAfter === undefined ? {} : { "content-length": String(1 << 20) }),
      },
    });
  };

  const tracked = (request: Request) => {
    const p = handler(request);
    pending.add(p);
    p.finally(() => pending.delete(p)).catch(() => {});
    return p;
  };

  const { promise, resolve } = Promise.withResolvers<OpenAiServer>();
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: ({ port }) =>
      resolve({
        baseUrl: `http://127.0.0.1:${port}/v1`,
        requests,
        close: async () => {
          await server.shutdown();
        },
      }),
  }, tracked);
  return promise;
}
