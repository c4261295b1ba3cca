/**
 * Load against several instances sharing Redis: submits N jobs round-robin over the instances,
 * C at a time, follows each job's event stream (from the next instance over, so streams cross
 * instances) to its end, and prints jobs per second.
 *
 * Spawn Redis and 1, then 2 instances of main.ts (offline writer, no delay) and compare:
 *   deno run -A bench/multi_instance.ts --jobs 400 --concurrency 32 --instances 1,2
 * Capacity-bound instead of CPU-bound (each job waits on a slow "LLM"):
 *   deno run -A bench/multi_instance.ts --offline-delay-ms 200 --max-concurrent-jobs 4
 * Or drive instances already running (127.0.0.1 only, please):
 *   deno run -A bench/multi_instance.ts --targets http://127.0.0.1:8001,http://127.0.0.1:8002
 *
 * @module
 */

import { collectEvents } from "../testing/sse_client.ts";
import { Instance, RedisServer, stopAll } from "../testing/redis_cluster.ts";

interface Options {
  jobs: number;
  concurrency: number;
  instances: number[];
  targets: string[];
  maxConcurrentJobs: number;
  offlineDelayMs: number;
}

function parse(args: string[]): Options {
  const options: Options = {
    jobs: 400,
    concurrency: 32,
    instances: [1, 2],
    targets: [],
    maxConcurrentJobs: 16,
    offlineDelayMs: 0,
  };
  for (let i = 0; i < args.length; i += 2) {
    const value = args[i + 1] ?? "";
    switch (args[i]) {
      case "--jobs":
        options.jobs = Number(value);
        break;
      case "--concurrency":
        options.concurrency = Number(value);
        break;
      case "--instances":
        options.instances = value.split(",").map(Number);
        break;
      case "--targets":
        options.targets = value.split(",").filter((s) => s !== "");
        break;
      case "--offline-delay-ms":
        options.offlineDelayMs = Number(value);
        break;
      case "--max-concurrent-jobs":
        options.maxConcurrentJobs = Number(value);
        break;
      default:
        throw new TypeError(`Unknown argument: ${args[i]}`);
    }
  }
  return options;
}

/** Runs `jobs` jobs through `urls`, `concurrency` at a time; returns jobs per second. */
async function drive(urls: string[], jobs: number, concurrency: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < jobs) {
      const n = next++;
      const submitTo = urls[n % urls.length] as string;
      const watchOn = urls[(n + 1) % urls.length] as string;
      const response = await fetch(`${submitTo}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ topic: `load topic ${n}` }),
      });
      const body = await response.json();
      if (response.status !== 202) {
        failed++;
        continue;
      }
      const events = await collectEvents(`${watchOn}/api/jobs/${body.id}/events`);
      if (events.at(-1)?.event !== "complete") failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - started) / 1_000;
  if (failed > 0) console.error(`  ${failed} of ${jobs} jobs did not complete`);
  return jobs / seconds;
}

if (import.meta.main) {
  const options = parse(Deno.args);
  if (options.targets.length > 0) {
    const rate = await drive(options.targets, options.jobs, options.concurrency);
    console.log(
      `${options.targets.length} instance(s): ${
        rate.toFixed(1)
      } jobs/s (${options.jobs} jobs, concurrency ${options.concurrency})`,
    );
  } else {
    for (const count of options.instances) {
      const redis = await RedisServer.start();
      const instances: Instance[] = [];
      try {
        for (let i = 0; i < count; i++) {
          instances.push(
            await Instance.start(`bench-${i}`, [
              "--store",
              "redis",
              "--redis-url",
              redis.url,
              "--offline-delay-ms",
              String(options.offlineDelayMs),
              "--log-level",
              "warn",
              "--max-concurrent-jobs",
              String(options.maxConcurrentJobs),
              "--max-queued-jobs",
              "100000",
            ]),
          );
        }
        const urls = instances.map((i) => i.url);
        await drive(urls, Math.min(20, options.jobs), Math.min(4, options.concurrency)); // warm-up
        const rate = await drive(urls, options.jobs, options.concurrency);
        console.log(
          `${count} instance(s): ${
            rate.toFixed(1)
          } jobs/s (${options.jobs} jobs, concurrency ${options.concurrency}, MAX_CONCURRENT_JOBS ${options.maxConcurrentJobs} each, OFFLINE_DELAY_MS ${options.offlineDelayMs})`,
        );
      } finally {
        await stopAll(instances, redis);
      }
    }
  }
}
