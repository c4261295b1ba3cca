/**
 * The floor of the 50 ms LLM scenario: the article workflow's critical path driven straight at
 * the LLM server with no Quillflow in between. Outline, then the three sections at once, then
 * style, each a streamed chat completion read chunk by chunk with a minimal SSE parse; the same
 * prompts, so the server answers the same text in the same number of chunks. Its job time is
 * what the machine and the LLM server allow; Quillflow's is compared to it and to 3 × delay.
 *
 * @module
 */

import type { JobTiming } from "./job_client.ts";
import type { LlmRequest } from "../src/llm/llm_client.ts";
import { outlinePrompt, sectionPrompt, stylePrompt } from "../src/workflow/prompts.ts";

const decoder = new TextDecoder();

async function streamCompletion(baseUrl: string, request: LlmRequest): Promise<string> {
  const response = await fetch(`${baseUrl}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer x" },
    body: JSON.stringify({
      model: "m",
      stream: true,
      messages: [
        { role: "system", content: request.system },
        { role: "user", content: request.prompt },
      ],
    }),
  });
  if (!response.ok || !response.body) throw new Error(`LLM server: ${response.status}`);
  let text = "";
  let pending = "";
  for await (const chunk of response.body) {
    pending += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = pending.indexOf("\n\n")) !== -1) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      if (!block.startsWith("data: ") || block === "data: [DONE]") continue;
      const parsed = JSON.parse(block.slice(6)) as {
        choices: { delta: { content?: string } }[];
      };
      text += parsed.choices[0]?.delta.content ?? "";
    }
  }
  return text;
}

/** Runs one article's calls against the LLM server at `baseUrl` (ending in `/v1`). */
export async function runCriticalPath(baseUrl: string, topic: string): Promise<JobTiming> {
  const started = performance.now();
  const outline = await streamCompletion(baseUrl, outlinePrompt(topic, 3));
  const firstEventMs = performance.now() - started;
  const titles = [...outline.matchAll(/^\s*- "(.*)"$/gm)].map((m) => m[1] as string);
  const sections = await Promise.all(
    titles.map((title) => streamCompletion(baseUrl, sectionPrompt(topic, title))),
  );
  await streamCompletion(baseUrl, stylePrompt(topic, sections.join("\n\n")));
  return { firstEventMs, jobMs: performance.now() - started };
}
