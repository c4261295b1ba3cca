/**
 * What durability costs: runs N zero-delay jobs end to end (POST, then the event stream to its
 * `complete`) against the service as a child process, once with `--store memory` and once with
 * `--store sqlite`, and prints jobs per second and the child's CPU time per job for each.
 *
 *     deno run -A bench/durable_overhead.ts [--jobs 400] [--clients 16] [--rounds 3]
 *
 * CPU time is read from /proc (Linux); elsewhere only throughput is shown.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startService } from "../tests/service_process.ts";
import { readSse } from "../testing/sse_client.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "400" },
    clients: { type: "string", default: "16" },
    rounds: { type: "string", default: "3" },
  },
});
const JOBS = Number(values.jobs);
const CLIENTS = Number(values.clients);
const ROUNDS = Number(values.rounds);

/** User + system CPU seconds of process `pid`, or NaN where /proc is missing. */
function cpuSeconds(pid: number): number {
  try {
    const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the command name.
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

async function runJob(url: string, n: number): Promise<void> {
  const created = await fetch(`${url}/api/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ topic: `benchmark topic ${n}` }),
  });
  if (created.status !== 202) throw new Error(`POST answered ${created.status}`);
  const { id } = await created.json();
  const stream = await fetch(`${url}/api/jobs/${id}/events`);
  let last = "";
  for await (const event of readSse(stream.body!)) {
    if (event.comment === undefined) last = event.event;
  }
  if (last !== "complete") throw new Error(`job ${id} ended with ${last}`);
}

async function measure(store: "memory" | "sqlite"): Promise<{ rate: number; cpuMs: number }> {
  const dataDir = await Deno.makeTempDir({ prefix: "quillflow-bench-" });
  try {
    await using service = await startService([
      "--store",
      store,
      "--data-dir",
      dataDir,
      "--offline-delay-ms",
      "0",
      "--max-concurrent-jobs",
      "8",
      "--max-queued-jobs",
      "10000",
      "--log-level",
      "warn",
    ]);
    // Warm up the JIT and the connection pool.
    await Promise.all(Array.from({ length: CLIENTS }, (_, i) => runJob(service.url, i)));
    const cpuBefore = cpuSeconds(service.child.pid);
    const started = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async () => {
      while (next < JOBS) await runJob(service.url, next++);
    }));
    const seconds = (performance.now() - started) / 1_000;
    const cpu = cpuSeconds(service.child.pid) - cpuBefore;
    return { rate: JOBS / seconds, cpuMs: (cpu * 1_000) / JOBS };
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = {
  memory: [] as { rate: number; cpuMs: number }[],
  sqlite: [] as { rate: number; cpuMs: number }[],
};
for (let round = 1; round <= ROUNDS; round++) {
  for (const store of ["memory", "sqlite"] as const) {
    const r = await measure(store);
    results[store].push(r);
    console.log(
      `round ${round} ${store.padEnd(6)} ${r.rate.toFixed(1)} jobs/s  ${
        r.cpuMs.toFixed(2)
      } ms CPU/job`,
    );
  }
}
const mem = {
  rate: median(results.memory.map((r) => r.rate)),
  cpu: median(results.memory.map((r) => r.cpuMs)),
};
const sql = {
  rate: median(results.sqlite.map((r) => r.rate)),
  cpu: median(results.sqlite.map((r) => r.cpuMs)),
};
// Each round runs both stores back to back, so a round's ratio is less exposed to other load.
const rateRatio = median(results.sqlite.map((r, i) => r.rate / results.memory[i]!.rate));
const cpuRatio = median(results.sqlite.map((r, i) => r.cpuMs / results.memory[i]!.cpuMs));
console.log(`\n${JOBS} jobs, ${CLIENTS} clients, ${ROUNDS} rounds (medians)`);
console.log(`memory  ${mem.rate.toFixed(1)} jobs/s  ${mem.cpu.toFixed(2)} ms CPU/job`);
console.log(`sqlite  ${sql.rate.toFixed(1)} jobs/s  ${sql.cpu.toFixed(2)} ms CPU/job`);
console.log(
  `durability costs ${((1 - rateRatio) * 100).toFixed(1)}% of throughput and ${
    ((cpuRatio - 1) * 100).toFixed(1)
  }% more CPU per job (median of per-round ratios)`,
);
