/**
 * Job ids: UUID version 7 (RFC 9562), a millisecond timestamp followed by 74 random bits.
 *
 * Time-ordered ids keep the jobs being written at one time next to each other in any index keyed
 * by id, as the durable store's are: with random (version 4) ids every event of every running job
 * landed on a different B-tree page, and each group commit rewrote about a page per job (twice
 * the CPU per job for the inserts; docs/durability_and_cli.md). They also sort by creation.
 *
 * @module
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * A new job id for a job created at `nowMs` (epoch ms).
 *
 * @example
 * ```ts
 * import { newJobId } from "./job_id.ts";
 * import assert from "node:assert/strict";
 *
 * const id = newJobId(Date.UTC(2026, 0, 1));
 * assert.match(id, /^019b76da-a800-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
 * assert.ok(newJobId(2) > newJobId(1));
 * ```
 */
export function newJobId(nowMs: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let time = Math.max(0, Math.floor(nowMs));
  for (let i = 5; i >= 0; i--) {
    bytes[i] = time % 256;
    time = Math.floor(time / 256);
  }
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
  let out = "";
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += "-";
    out += HEX[bytes[i] as number];
  }
  return out;
}
