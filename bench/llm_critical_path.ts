/**
 * The floor of the 50 ms LLM scenario: the article workflow's critical path driven straight at
 * the LLM server with no Quillflow in between. Outline, then the three sections at once, then
 * style, each a streamed chat completion read chunk by chunk with a minimal SSE parse over one
 * of `chat_transports.ts`'s transports (`fetch` unless told); the same prompts, so the server
 * answers the same text in the same number of chunks. Its job time is what the machine and the
 * LLM server allow; Quillflow's is compared to it and to 3 × delay.
 *
 * @module
 */

import type { JobTiming } from "./job_client.ts";
import { outlinePrompt, sectionPrompt, stylePrompt } from "../src/workflow/prompts.ts";
import { chatBody, type ChatStreamer, TRANSPORTS } from "./chat_transports.ts";

const TITLE = /^\s*- ("(?:[^"\\]|\\.)*")\s*$/gm;

/** Runs one article's calls against the LLM server at `baseUrl` (ending in `/v1`). */
export async function runCriticalPath(
  baseUrl: string,
  topic: string,
  stream: ChatStreamer = TRANSPORTS.fetch,
): Promise<JobTiming> {
  const started = performance.now();
  const outline = await stream(baseUrl, chatBody(outlinePrompt(topic, 3)));
  const firstEventMs = performance.now() - started;
  const titles = [...outline.matchAll(TITLE)].map((m) => JSON.parse(m[1] as string) as string);
  if (titles.length === 0) throw new Error(`No sections in the outline: ${outline.slice(0, 200)}`);
  const sections = await Promise.all(
    titles.map(async (title) =>
      `## ${title}\n\n${await stream(baseUrl, chatBody(sectionPrompt(topic, title)))}`
    ),
  );
  // The draft as the service builds it, so the style answer (which echoes it) is as long.
  await stream(baseUrl, chatBody(stylePrompt(topic, sections.join("\n\n"))));
  return { firstEventMs, jobMs: performance.now() - started };
}
