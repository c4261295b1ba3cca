/**
 * Realistic pacing: the LLM server streams one word every 20 ms (~75 words per call, a model at
 * 50 tokens/s), every job is watched by one client, and the figure is the delivery lag: the age
 * of the newest word in each `delta` event when the watcher reads it (the words carry the time
 * they were sent; `llm_server.ts`). At each level (`--levels`, default 50, 200 and 400 jobs in
 * flight, their starts spread over `--ramp-ms`) Quillflow and the relay floor
 * (`relay_floor.ts`) run the same jobs one after the other against the same LLM server, in one
 * run; each level reports lag p50/p99/max, job time, CPU share (process and main thread) and
 * peak RSS, and the summary the most jobs each held with lag p99 < 100 ms.
 *
 * `--compare DIR[,DIR]` adds other checkouts of the project (a parent commit's worktree) as
 * `compare1`, …, beside this one in every round. `--protos worker-tcp,...` adds the service with a prototype LLM client
 * (`proto_quillflow.ts`); `--cpu-prof-dir DIR` runs every service instance under `--cpu-prof`
 * (into `DIR/<instance>`) and prints where its time went (`cpu_profile_summary.ts`) once it
 * stops. `--store memory,sqlite` runs the service once per store.
 *
 * `--redis-processes 1,2` adds, per count N, N service processes on one port (`REUSE_PORT=1`,
 * the kernel spreading the watchers' connections) sharing jobs through a `redis-server` of their
 * own, as docs/deployment.md runs one host's cores; their CPU is summed (each process's share is
 * shown too) and Redis's is reported apart. It starts Redis from `testing/redis_cluster.ts`, in
 * a folder under /tmp (its environment from `testing/child_env.ts`): add
 * `--allow-write=/tmp,.test-output --allow-env`.
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/paced_lag.ts
 * [--levels 50,200,400] [--rounds 1]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  benchDataDir,
  openaiFlags,
  protoRuntime,
  type QuillflowRuntime,
  removeBenchDataDir,
  spawnLlmServer,
  spawnQuillflow,
  spawnRelay,
} from "./bench_servers.ts";
import { isTransportName } from "./chat_transports.ts";
import { compareName, parseCompare } from "./compare_checkouts.ts";
import { summarizeProfiles } from "./cpu_profile_summary.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { type PacedJob, watchPacedJob } from "./paced_watcher.ts";
import { percentile } from "./percentile.ts";
import {
  describeMachine,
  readCpuSeconds,
  readMainThreadCpuSeconds,
  readMemory,
} from "./process_stats.ts";
import { PROTO_LLM_CLIENTS } from "./proto_llm_clients.ts";
import type { SpawnedServer } from "./spawned_server.ts";

/** One instance at one level. */
export interface PacedFigures {
  name: string;
  /** Which round of the level, from 0: ratios pair each instance with the relay's same round. */
  round: number;
  jobs: number;
  errors: number;
  firstError?: string;
  /** Delta events measured. */
  samples: number;
  lagP50: number;
  lagP99: number;
  lagMax: number;
  jobP50: number;
  jobP99: number;
  wallS: number;
  /** Server CPU seconds per wall second: whole process, main thread (summed over processes). */
  cpuShare: number;
  mainShare: number;
  /** Each process's CPU share, when the instance is several processes. */
  processShares?: number[];
  /** Redis's CPU seconds per wall second, for an instance sharing jobs through it. */
  redisShare?: number;
  /** Peak VmRSS sampled during the level, MiB (each process's peak, summed). */
  rssMiB: number;
  /** LLM server and this process, CPU seconds per wall second. */
  llmShare: number;
  clientShare: number;
}

/** The figures of one level. */
export interface PacedLevel {
  jobs: number;
  figures: PacedFigures[];
}

/** Options of {@linkcode runPacedLag}. */
export interface PacedOptions {
  levels: number[];
  rounds: number;
  rampMs: number;
  wordMs: number;
  words: number;
  relayTransport: string;
  protos: string[];
  /** Other checkouts of the project to run beside this one (before/after figures). */
  compare: string[];
  quillflow: boolean;
  relay: boolean;
  /** The service runs once per store; prototypes use the first. */
  stores: ("memory" | "sqlite")[];
  /** Process counts of the Redis-shared instances (N processes on one port), if any. */
  redisProcesses: number[];
  cpuProfDir: string | undefined;
}

/** What a level drives: one URL, served by one or several processes. */
interface Instance {
  name: string;
  url: string;
  pids: number[];
  /** The Redis server the processes share, when they do. */
  redisPid?: number;
}

const one = (name: string, server: SpawnedServer): Instance => ({
  name,
  url: server.url,
  pids: [server.pid],
});

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

async function sampleRss(pid: number, until: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  until.finally(() => done = true);
  while (!done) {
    peak = Math.max(peak, (await readMemory(pid)).rssKiB);
    await Promise.race([until, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  return Math.max(peak, (await readMemory(pid)).rssKiB) / 1024;
}

async function level(
  instance: Instance,
  jobs: number,
  round: number,
  options: PacedOptions,
  llm: SpawnedServer,
): Promise<PacedFigures> {
  const { pids, redisPid } = instance;
  const read = () =>
    Promise.all([
      Promise.all(pids.map(readCpuSeconds)),
      Promise.all(pids.map(readMainThreadCpuSeconds)),
      readCpuSeconds(llm.pid),
      readCpuSeconds("self"),
      redisPid === undefined ? 0 : readCpuSeconds(redisPid),
    ]);
  const [cpu0, main0, llm0, self0, redis0] = await read();
  const started = performance.now();
  const all = Promise.all(Array.from({ length: jobs }, async (_, i) => {
    await new Promise((resolve) => setTimeout(resolve, options.rampMs * i / jobs));
    return await watchPacedJob(instance.url, `benchmark topic ${i % 50}`).catch((e) =>
      e instanceof Error ? e : new Error(String(e))
    );
  }));
  const [results, peaks] = await Promise.all([
    all,
    Promise.all(pids.map((pid) => sampleRss(pid, all))),
  ]);
  const rssMiB = sum(peaks);
  const wallS = (performance.now() - started) / 1000;
  const [cpu1, main1, llm1, self1, redis1] = await read();
  const shares = cpu1.map((c, i) => (c - (cpu0[i] as number)) / wallS);
  const ok = results.filter((r): r is PacedJob => !(r instanceof Error));
  const errors = results.filter((r): r is Error => r instanceof Error);
  const lags = new Float64Array(ok.reduce((n, r) => n + r.lags.length, 0));
  let at = 0;
  for (const r of ok) {
    lags.set(r.lags, at);
    at += r.lags.length;
  }
  const times = ok.map((r) => r.jobMs);
  return {
    name: instance.name,
    round,
    jobs,
    errors: errors.length,
    ...(errors[0] ? { firstError: errors[0].message } : {}),
    samples: lags.length,
    lagP50: percentile(lags, 50),
    lagP99: percentile(lags, 99),
    lagMax: lags.length === 0 ? NaN : lags[lags.length - 1] as number,
    jobP50: percentile(times, 50),
    jobP99: percentile(times, 99),
    wallS,
    cpuShare: sum(shares),
    mainShare: (sum(main1) - sum(main0)) / wallS,
    ...(pids.length > 1 ? { processShares: shares } : {}),
    ...(redisPid === undefined ? {} : { redisShare: (redis1 - redis0) / wallS }),
    rssMiB,
    llmShare: (llm1 - llm0) / wallS,
    clientShare: (self1 - self0) / wallS,
  };
}

function merge(a: PacedFigures | undefined, b: PacedFigures): PacedFigures {
  // Rounds are reported apart in the tables; the summary keeps each level's worse p99.
  return a === undefined || b.lagP99 > a.lagP99 ? b : a;
}

/** Runs every level for every instance; returns the levels' figures in order. */
export async function runPacedLag(options: PacedOptions): Promise<PacedLevel[]> {
  const started: SpawnedServer[] = [];
  const redisServers: { destroy(): Promise<void> }[] = [];
  const out: PacedLevel[] = [];
  // One fresh data folder per service instance: the durable store locks its own.
  const dataDirs: string[] = [];
  const storeFlags = (store: "memory" | "sqlite") => {
    if (store !== "sqlite") return [];
    const dir = benchDataDir();
    dataDirs.push(dir);
    return ["--store", "sqlite", "--data-dir", dir];
  };
  const profiled: string[] = [];
  const profile = (name: string): string[] => {
    if (options.cpuProfDir === undefined) return [];
    const dir = `${options.cpuProfDir}/${name}`;
    profiled.push(dir);
    return ["--cpu-prof", `--cpu-prof-dir=${dir}`];
  };
  try {
    const llm = await spawnLlmServer({ wordMs: options.wordMs, words: options.words });
    started.push(llm);
    const flags = [
      ...openaiFlags(llm.url),
      "--max-concurrent-jobs",
      "2000",
      "--max-queued-jobs",
      "2000",
    ];
    const instances: Instance[] = [];
    for (const store of options.quillflow ? options.stores : []) {
      // One store keeps the name the goals table looks for.
      const name = options.stores.length === 1 ? "quillflow" : `quillflow (${store})`;
      const runtime: QuillflowRuntime = { denoFlags: profile(name.replace(/\W+/g, "-")) };
      const server = await spawnQuillflow(
        [...flags, ...storeFlags(store)],
        undefined,
        undefined,
        runtime,
      );
      started.push(server);
      instances.push(one(name, server));
      for (const [i, checkout] of options.compare.entries()) {
        const compared = `${compareName(i)}${options.stores.length === 1 ? "" : ` (${store})`}`;
        const other = await spawnQuillflow([...flags, ...storeFlags(store)], undefined, checkout, {
          denoFlags: profile(compared.replace(/\W+/g, "-")),
        });
        started.push(other);
        instances.push(one(compared, other));
      }
    }
    for (const count of options.redisProcesses) {
      const name = `quillflow redis ×${count}`;
      const { RedisServer } = await import("../testing/redis_cluster.ts");
      const redis = await RedisServer.start("/tmp");
      redisServers.push(redis);
      const shared = [...flags, "--store", "redis", "--redis-url", redis.url, "--reuse-port", "1"];
      const group: SpawnedServer[] = [];
      for (let i = 0; i < count; i++) {
        // The first picks a free port; the others join it there.
        const port = group[0] ? ["--port", new URL(group[0].url).port] : [];
        const server = await spawnQuillflow([...shared, ...port], undefined, undefined, {
          denoFlags: ["--unstable-net", "--allow-read", ...profile(`${name}-${i}`)],
        });
        started.push(server);
        group.push(server);
      }
      instances.push({
        name,
        url: (group[0] as SpawnedServer).url,
        pids: group.map((server) => server.pid),
        redisPid: redis.pid as number,
      });
    }
    for (const proto of options.protos) {
      const runtime = protoRuntime();
      const server = await spawnQuillflow(
        [...flags, ...storeFlags(options.stores[0] ?? "memory"), "--proto-llm", proto],
        undefined,
        undefined,
        { ...runtime, denoFlags: [...runtime.denoFlags, ...profile(`quillflow+${proto}`)] },
      );
      started.push(server);
      instances.push(one(`quillflow+${proto}`, server));
    }
    if (options.relay) {
      const server = await spawnRelay(llm.url, options.relayTransport);
      started.push(server);
      instances.push(one(`relay (${options.relayTransport})`, server));
    }
    // Warm-up: 20 jobs each (per process of a group), unmeasured, so the code is compiled.
    for (const instance of instances) {
      await Promise.all(
        Array.from(
          { length: 20 * instance.pids.length },
          (_, i) => watchPacedJob(instance.url, `warm-up ${i}`),
        ),
      );
    }
    for (const jobs of options.levels) {
      console.log(`${jobs} jobs: machine at start: ${await describeMachine()}`);
      const figures: PacedFigures[] = [];
      for (let round = 0; round < options.rounds; round++) {
        // Every other round in reverse, so no instance always runs first after a pause.
        const order = round % 2 === 0 ? instances : [...instances].reverse();
        for (const instance of order) {
          figures.push(await level(instance, jobs, round, options, llm));
        }
      }
      out.push({ jobs, figures });
      console.log(pacedTable([{ jobs, figures }]));
      console.log(`${jobs} jobs: machine at end: ${await describeMachine()}`);
    }
  } finally {
    await Promise.all(started.map((server) => server.stop()));
    for (const redis of redisServers) await redis.destroy();
    for (const dir of dataDirs) await removeBenchDataDir(dir);
  }
  for (const dir of profiled) console.log(`\n${dir}: ${await summarizeProfiles(dir)}`);
  return out;
}

/** The levels as one table, with each instance's ratio to the relay's figures. */
export function pacedTable(levels: PacedLevel[]): string {
  const rows: string[][] = [];
  for (const { jobs, figures } of levels) {
    for (const f of figures) {
      rows.push([
        String(jobs),
        f.name,
        `${f.jobs - f.errors}/${f.jobs}`,
        String(f.samples),
        fixed(f.lagP50),
        fixed(f.lagP99),
        fixed(f.lagMax),
        fixed(f.jobP50, 0),
        fixed(f.jobP99, 0),
        fixed(100 * f.cpuShare, 0) +
        (f.processShares ? ` (${f.processShares.map((x) => fixed(100 * x, 0)).join("+")})` : ""),
        fixed(100 * f.mainShare, 0),
        f.redisShare === undefined ? "-" : fixed(100 * f.redisShare, 0),
        fixed(f.rssMiB, 0),
        fixed(100 * f.llmShare, 0),
        fixed(100 * f.clientShare, 0),
      ]);
      const relay = figures.find((x) => x.name.startsWith("relay") && x.round === f.round);
      if (relay && f !== relay && !f.name.startsWith("relay")) {
        rows.push([
          "",
          "  ÷ relay",
          "",
          "",
          fixed(f.lagP50 / relay.lagP50, 2),
          fixed(f.lagP99 / relay.lagP99, 2),
          fixed(f.lagMax / relay.lagMax, 2),
          fixed(f.jobP50 / relay.jobP50, 2),
          fixed(f.jobP99 / relay.jobP99, 2),
          fixed(f.cpuShare / relay.cpuShare, 2),
          fixed(f.mainShare / relay.mainShare, 2),
          "",
          fixed(f.rssMiB / relay.rssMiB, 2),
          "",
          "",
        ]);
      }
    }
  }
  let out = formatTable(
    [
      "jobs",
      "instance",
      "ok/jobs",
      "deltas",
      "lag p50 ms",
      "lag p99 ms",
      "lag max ms",
      "job p50 ms",
      "job p99 ms",
      "CPU % (per process)",
      "main thread %",
      "Redis CPU %",
      "peak RSS MiB",
      "LLM server CPU %",
      "watchers CPU %",
    ],
    rows,
  );
  for (const { figures } of levels) {
    for (const f of figures) {
      if (f.firstError) out += `\n${f.name}: ${f.errors} errors, first: ${f.firstError}`;
    }
  }
  return out;
}

/** For each instance, the most jobs it held with lag p99 < `limitMs`, and its figures there. */
export function mostHeld(levels: PacedLevel[], limitMs = 100): string {
  const names = [...new Set(levels.flatMap((l) => l.figures.map((f) => f.name)))];
  const rows = names.map((name) => {
    let best: PacedFigures | undefined;
    for (const { figures } of levels) {
      let worst: PacedFigures | undefined;
      for (const f of figures.filter((x) => x.name === name)) worst = merge(worst, f);
      if (worst && worst.errors === 0 && worst.lagP99 < limitMs) {
        if (!best || worst.jobs > best.jobs) best = worst;
      }
    }
    return [
      name,
      best ? String(best.jobs) : `none of ${levels.map((l) => l.jobs).join(", ")}`,
      best ? fixed(best.lagP99) : "-",
      best ? fixed(100 * best.cpuShare, 0) : "-",
      best ? fixed(100 * best.mainShare, 0) : "-",
      best ? fixed(best.rssMiB, 0) : "-",
    ];
  });
  return formatTable(
    [
      "instance",
      `most jobs with lag p99 < ${limitMs} ms`,
      "lag p99 ms",
      "CPU %",
      "main %",
      "RSS MiB",
    ],
    rows,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      levels: { type: "string", default: "50,200,400" },
      rounds: { type: "string", default: "1" },
      "ramp-ms": { type: "string", default: "1000" },
      "word-ms": { type: "string", default: "20" },
      words: { type: "string", default: "75" },
      "relay-transport": { type: "string", default: "tcp" },
      protos: { type: "string", default: "" },
      compare: { type: "string", default: "" },
      "no-quillflow": { type: "boolean", default: false },
      "no-relay": { type: "boolean", default: false },
      store: { type: "string", default: "memory" },
      "redis-processes": { type: "string", default: "" },
      "cpu-prof-dir": { type: "string" },
    },
  });
  const protos = values.protos.split(",").filter((p) => p !== "");
  for (const proto of protos) {
    if (!Object.hasOwn(PROTO_LLM_CLIENTS, proto)) throw new TypeError(`Unknown proto ${proto}`);
  }
  if (!isTransportName(values["relay-transport"])) {
    throw new TypeError(`Unknown --relay-transport ${values["relay-transport"]}`);
  }
  const stores = values.store.split(",").filter((s) => s !== "");
  for (const store of stores) {
    if (store !== "memory" && store !== "sqlite") {
      throw new TypeError(`--store is memory, sqlite or both, not ${values.store}`);
    }
  }
  const redisProcesses = values["redis-processes"].split(",").filter((n) => n !== "").map(Number);
  if (!redisProcesses.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new TypeError(`--redis-processes takes process counts: ${values["redis-processes"]}`);
  }
  const options: PacedOptions = {
    levels: values.levels.split(",").map(Number).filter((n) => n > 0),
    rounds: Math.max(1, Number(values.rounds)),
    rampMs: Number(values["ramp-ms"]),
    wordMs: Number(values["word-ms"]),
    words: Number(values.words),
    relayTransport: values["relay-transport"],
    protos,
    compare: parseCompare(values.compare),
    quillflow: !values["no-quillflow"],
    relay: !values["no-relay"],
    stores: stores as ("memory" | "sqlite")[],
    redisProcesses,
    cpuProfDir: values["cpu-prof-dir"],
  };
  const levels = await runPacedLag(options);
  console.log(
    `paced: one word every ${options.wordMs} ms, ${options.words} words per call, starts spread over ${options.rampMs} ms, stores ${
      options.stores.join(", ")
    }`,
  );
  console.log(pacedTable(levels));
  console.log(mostHeld(levels));
  console.log(`FIGURES ${JSON.stringify({ kind: "paced", options, levels })}`);
}
