/**
 * The load script: drives N jobs at concurrency C end to end over real HTTP + SSE and prints
 * jobs/s, time to first event p50/p99, job time p50/p99, CPU per job and peak RSS of each
 * server, each as a ratio to the floor measured in the same run.
 *
 * By default it starts the floor and Quillflow (offline writer, `--offline-delay-ms`) itself.
 * `--llm-delay-ms N` runs Quillflow on the `openai` provider against a loopback LLM server
 * answering after N ms and compares job times to the workflow's critical path (3 × N).
 * `--relay TRANSPORT` (such as `tcp`; with `--target native` and `--llm-delay-ms`) adds the relay floor
 * (`relay_floor.ts`) against the same LLM server, and Quillflow's ratios to it; `--protos
 * worker-tcp,tcp` adds the service with prototype LLM clients (`proto_quillflow.ts`).
 * `--urls a,b` drives running instances too (no CPU or memory figures for those).
 *
 * Run: `deno run --allow-net=127.0.0.1 --allow-run --allow-read bench/load.ts --target compat
 * --jobs 2000 --concurrency 100`
 *
 * @module
 */

import { processEnv } from "../src/core/process_env.ts";
import { parseArgs } from "node:util";
import {
  benchDataDir,
  openaiFlags,
  protoRuntime,
  removeBenchDataDir,
  spawnFloor,
  spawnLlmServer,
  spawnQuillflow,
  spawnRelay,
} from "./bench_servers.ts";
import { isTransportName } from "./chat_transports.ts";
import { compareName, parseCompare } from "./compare_checkouts.ts";
import { fixed, formatTable } from "./figures_table.ts";
import { type JobTiming, runJob, type Target } from "./job_client.ts";
import { runCriticalPath } from "./llm_critical_path.ts";
import { percentile } from "./percentile.ts";
import { PROTO_LLM_CLIENTS } from "./proto_llm_clients.ts";
import {
  describeMachine,
  readCpuSeconds,
  readMainThreadCpuSeconds,
  readMemory,
} from "./process_stats.ts";
import { runPool } from "./run_pool.ts";
import type { SpawnedServer } from "./spawned_server.ts";

/** Settings of one load run. */
export interface LoadOptions {
  target: Target;
  jobs: number;
  concurrency: number;
  /** Unmeasured jobs run first on each instance, so its code is compiled. */
  warmup: number;
  offlineDelayMs: number;
  /**
   * The stores Quillflow runs with, one instance each: `memory`, the durable `sqlite`, or both
   * (their figures then come from the same run, alternating rounds, like the floor's).
   */
  stores: ("memory" | "sqlite")[];
  /** When set, Quillflow uses the `openai` provider against a loopback server with this delay. */
  llmDelayMs: number | undefined;
  /** Running instances to drive as well. */
  urls: string[];
  /** Whether to start and measure the floor. */
  floor: boolean;
  /** Whether to start and measure Quillflow. */
  quillflow: boolean;
  /** Other copies of the project to start and measure beside this one (before/after runs). */
  compare: string[];
  /** Measured passes per instance, alternating between instances. */
  rounds: number;
  /**
   * The relay floor's LLM transport, when it runs beside Quillflow (LLM runs on the native
   * routes only).
   */
  relay: string | undefined;
  /** Prototype LLM clients to run the service with as well (LLM runs only). */
  protos: string[];
}

/** What one instance did. */
export interface LoadFigures {
  name: string;
  jobs: number;
  errors: number;
  jobsPerSecond: number;
  firstEventP50: number;
  firstEventP99: number;
  jobP50: number;
  jobP99: number;
  /** Server CPU per job in ms; NaN for external instances. */
  cpuMsPerJob: number;
  /** The same for the server's main thread, the one that runs its JavaScript. */
  mainCpuMsPerJob: number;
  /** Load script CPU per job in ms. */
  clientCpuMsPerJob: number;
  /** LLM server CPU per job in ms (openai runs only). */
  llmCpuMsPerJob: number;
  /** Peak resident memory of the server in MiB. */
  peakRssMiB: number;
  /** First error message, if any. */
  firstError?: string;
}

interface Instance {
  name: string;
  url: string;
  /** `llm-path` instances run the workflow's calls straight at the LLM server. */
  direct: boolean;
  pid: number | undefined;
  timings: JobTiming[];
  errors: Error[];
  wallMs: number;
  cpuS: number;
  mainCpuS: number;
  clientCpuS: number;
  llmCpuS: number;
}

const cpu = (pid: number | undefined) =>
  pid === undefined ? Promise.resolve(NaN) : readCpuSeconds(pid);
const mainCpu = (pid: number | undefined) =>
  pid === undefined ? Promise.resolve(NaN) : readMainThreadCpuSeconds(pid);

async function pass(
  instance: Instance,
  options: LoadOptions,
  count: number,
  llmPid: number | undefined,
  measured: boolean,
): Promise<void> {
  const [cpu0, main0, self0, llm0] = await Promise.all([
    cpu(instance.pid),
    mainCpu(instance.pid),
    cpu(Deno.pid),
    cpu(llmPid),
  ]);
  const started = performance.now();
  const results = await runPool(
    count,
    options.concurrency,
    (i) =>
      instance.direct
        ? runCriticalPath(instance.url, `benchmark topic ${i % 50}`)
        : runJob(instance.url, options.target, `benchmark topic ${i % 50}`),
  );
  const wallMs = performance.now() - started;
  const [cpu1, main1, self1, llm1] = await Promise.all([
    cpu(instance.pid),
    mainCpu(instance.pid),
    cpu(Deno.pid),
    cpu(llmPid),
  ]);
  if (!measured) return;
  instance.wallMs += wallMs;
  instance.cpuS += cpu1 - cpu0;
  instance.mainCpuS += main1 - main0;
  instance.clientCpuS += self1 - self0;
  instance.llmCpuS += llm1 - llm0;
  for (const result of results) {
    if (result instanceof Error) instance.errors.push(result);
    else instance.timings.push(result);
  }
}

async function figuresOf(instance: Instance): Promise<LoadFigures> {
  const n = instance.timings.length;
  const all = n + instance.errors.length;
  const peak = instance.pid === undefined ? NaN : (await readMemory(instance.pid)).hwmKiB / 1024;
  return {
    name: instance.name,
    jobs: n,
    errors: instance.errors.length,
    jobsPerSecond: n / (instance.wallMs / 1000),
    firstEventP50: percentile(instance.timings.map((t) => t.firstEventMs), 50),
    firstEventP99: percentile(instance.timings.map((t) => t.firstEventMs), 99),
    jobP50: percentile(instance.timings.map((t) => t.jobMs), 50),
    jobP99: percentile(instance.timings.map((t) => t.jobMs), 99),
    cpuMsPerJob: instance.cpuS * 1000 / all,
    mainCpuMsPerJob: instance.mainCpuS * 1000 / all,
    clientCpuMsPerJob: instance.clientCpuS * 1000 / all,
    llmCpuMsPerJob: instance.llmCpuS * 1000 / all,
    peakRssMiB: peak,
    ...(instance.errors[0] ? { firstError: instance.errors[0].message } : {}),
  };
}

/** Runs the load described by `options` and returns the figures of every instance, floor first. */
export async function runLoad(options: LoadOptions): Promise<LoadFigures[]> {
  const started: SpawnedServer[] = [];
  const dataDirs: string[] = [];
  try {
    const instances: Instance[] = [];
    const add = (name: string, url: string, pid: number | undefined, direct = false) =>
      instances.push({
        name,
        url,
        direct,
        pid,
        timings: [],
        errors: [],
        wallMs: 0,
        cpuS: 0,
        mainCpuS: 0,
        clientCpuS: 0,
        llmCpuS: 0,
      });
    let llm: SpawnedServer | undefined;
    if (options.floor) {
      // The service holds a compatibility stream open after its last message unless
      // COMPAT_HOLD_MS=0 (which its instances inherit); the floor does the same, so a client
      // pays the same connections on both.
      // (Reading it needs --allow-env; without, the service's default, a hold, is assumed.)
      const hold = options.target === "compat" && processEnv("COMPAT_HOLD_MS") !== "0";
      const floor = await spawnFloor(hold ? ["--compat-hold"] : []);
      started.push(floor);
      add("floor", floor.url, floor.pid);
    }
    if (options.quillflow) {
      const common = [
        "--max-concurrent-jobs",
        String(options.concurrency),
        "--max-queued-jobs",
        String(Math.max(100, options.concurrency * 2)),
      ];
      let flags: string[];
      if (options.llmDelayMs === undefined) {
        flags = [...common, "--offline-delay-ms", String(options.offlineDelayMs)];
      } else {
        llm = await spawnLlmServer(options.llmDelayMs);
        started.push(llm);
        flags = [
          ...common,
          ...openaiFlags(llm.url),
        ];
      }
      // The LLM scenario's floor: the same calls with no service in between.
      if (llm) add("llm-path", llm.url, llm.pid, true);
      if (llm && options.relay !== undefined) {
        const relay = await spawnRelay(llm.url, options.relay);
        started.push(relay);
        add("relay", relay.url, relay.pid);
      }
      for (const store of options.stores) {
        // A fresh data folder per instance, so each store starts empty; removed at the end.
        const storeFlags = () => {
          if (store === "memory") return [];
          const dir = benchDataDir();
          dataDirs.push(dir);
          return ["--store", "sqlite", "--data-dir", dir];
        };
        const suffix = options.stores.length === 1 ? "" : ` ${store}`;
        const quillflow = await spawnQuillflow([...flags, ...storeFlags()]);
        started.push(quillflow);
        add(`quillflow${suffix}`, quillflow.url, quillflow.pid);
        for (const [i, checkout] of options.compare.entries()) {
          const other = await spawnQuillflow([...flags, ...storeFlags()], undefined, checkout);
          started.push(other);
          add(compareName(i, suffix), other.url, other.pid);
        }
        if (llm) {
          for (const proto of options.protos) {
            const other = await spawnQuillflow(
              [...flags, ...storeFlags(), "--proto-llm", proto],
              undefined,
              undefined,
              protoRuntime(),
            );
            started.push(other);
            add(`quillflow+${proto}${suffix}`, other.url, other.pid);
          }
        }
      }
    }
    options.urls.forEach((url, i) => add(`url${i + 1}`, url, undefined));
    for (const instance of instances) {
      if (options.warmup > 0) await pass(instance, options, options.warmup, llm?.pid, false);
    }
    for (let round = 0; round < options.rounds; round++) {
      for (const instance of instances) {
        await pass(instance, options, options.jobs, llm?.pid, true);
      }
    }
    return await Promise.all(instances.map(figuresOf));
  } finally {
    await Promise.all(started.map((server) => server.stop()));
    for (const dir of dataDirs) await removeBenchDataDir(dir);
  }
}

/** A row of `f`'s figures each divided by `base`'s, under `f`'s own row. */
function ratioRow(
  label: string,
  f: LoadFigures,
  base: LoadFigures,
  { client = true } = {},
): string[] {
  const ratio = (a: number, b: number) => fixed(a / b, 2);
  return [
    label,
    "",
    ratio(f.jobsPerSecond, base.jobsPerSecond),
    ratio(f.firstEventP50, base.firstEventP50),
    ratio(f.firstEventP99, base.firstEventP99),
    ratio(f.jobP50, base.jobP50),
    ratio(f.jobP99, base.jobP99),
    ratio(f.cpuMsPerJob, base.cpuMsPerJob),
    ratio(f.mainCpuMsPerJob, base.mainCpuMsPerJob),
    client ? ratio(f.clientCpuMsPerJob, base.clientCpuMsPerJob) : "",
    ratio(f.peakRssMiB, base.peakRssMiB),
  ];
}

/** The figures as a table, with a ratio-to-floor row under each instance when a floor ran. */
export function loadTable(figures: LoadFigures[], options: LoadOptions): string {
  const floor = figures.find((f) => f.name === "floor");
  const critical = options.llmDelayMs === undefined ? undefined : 3 * options.llmDelayMs;
  const rows: string[][] = [];
  for (const f of figures) {
    rows.push([
      f.name,
      `${f.jobs}/${f.jobs + f.errors}`,
      fixed(f.jobsPerSecond, 0),
      fixed(f.firstEventP50),
      fixed(f.firstEventP99),
      fixed(f.jobP50),
      fixed(f.jobP99),
      fixed(f.cpuMsPerJob, 3),
      fixed(f.mainCpuMsPerJob, 3),
      fixed(f.clientCpuMsPerJob, 3),
      fixed(f.peakRssMiB, 0),
    ]);
    if (floor && f !== floor) rows.push(ratioRow("  ÷ floor", f, floor));
    const relay = figures.find((x) => x.name === "relay");
    if (relay && (f.name.startsWith("quillflow") || f.name.startsWith("compare"))) {
      // The relay has no load client of its own to compare with.
      rows.push(ratioRow("  ÷ relay", f, relay, { client: false }));
    }
    const path = figures.find((x) => x.name === "llm-path");
    if (path && f.name === "quillflow") {
      rows.push([
        "  ÷ llm-path",
        "",
        fixed(f.jobsPerSecond / path.jobsPerSecond, 2),
        "",
        "",
        fixed(f.jobP50 / path.jobP50, 2),
        fixed(f.jobP99 / path.jobP99, 2),
        "",
        "",
        "",
        "",
      ]);
    }
    if (critical !== undefined && f.name !== "floor") {
      rows.push([
        `  ÷ ${critical} ms path`,
        "",
        "",
        "",
        "",
        fixed(f.jobP50 / critical, 2),
        fixed(f.jobP99 / critical, 2),
        "",
        "",
        "",
        "",
      ]);
    }
  }
  const header = [
    "instance",
    "ok/jobs",
    "jobs/s",
    "1st ev p50 ms",
    "1st ev p99 ms",
    "job p50 ms",
    "job p99 ms",
    "server CPU ms/job",
    "main-thread CPU ms/job",
    "load CPU ms/job",
    "peak RSS MiB",
  ];
  let out = formatTable(header, rows);
  for (const f of figures) {
    if (f.firstError) out += `\n${f.name}: ${f.errors} errors, first: ${f.firstError}`;
  }
  if (critical !== undefined) {
    for (const f of figures.filter((f) => f.name === "quillflow")) {
      const total = f.cpuMsPerJob + f.llmCpuMsPerJob + f.clientCpuMsPerJob;
      out += `\nCPU per job: service ${fixed(f.cpuMsPerJob, 2)} ms (${
        fixed(100 * f.cpuMsPerJob / total, 0)
      }%), LLM server ${fixed(f.llmCpuMsPerJob, 2)} ms (${
        fixed(100 * f.llmCpuMsPerJob / total, 0)
      }%), load script ${fixed(f.clientCpuMsPerJob, 2)} ms (${
        fixed(100 * f.clientCpuMsPerJob / total, 0)
      }%)`;
    }
  }
  return out;
}

/** Reads load options from command-line `args`. */
export function parseLoadArgs(args: string[]): LoadOptions {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: "string", default: "compat" },
      jobs: { type: "string", default: "2000" },
      concurrency: { type: "string", default: "100" },
      warmup: { type: "string", default: "300" },
      "offline-delay-ms": { type: "string", default: "0" },
      "llm-delay-ms": { type: "string" },
      urls: { type: "string", default: "" },
      compare: { type: "string", default: "" },
      "no-floor": { type: "boolean", default: false },
      "no-quillflow": { type: "boolean", default: false },
      rounds: { type: "string", default: "1" },
      store: { type: "string", default: "memory" },
      relay: { type: "string" },
      protos: { type: "string", default: "" },
    },
  });
  const protos = values.protos.split(",").filter((p) => p !== "");
  for (const proto of protos) {
    if (!Object.hasOwn(PROTO_LLM_CLIENTS, proto)) {
      throw new TypeError(`Unknown --protos ${proto}: one of ${Object.keys(PROTO_LLM_CLIENTS)}`);
    }
  }
  const relay = values.relay === undefined ? undefined : values.relay || "tcp";
  if (relay !== undefined && !isTransportName(relay)) {
    throw new TypeError(`--relay takes a transport of bench/chat_transports.ts, not ${relay}`);
  }
  if (relay !== undefined && (values.target !== "native" || values["llm-delay-ms"] === undefined)) {
    throw new TypeError("--relay runs with --target native and --llm-delay-ms only");
  }
  const stores = values.store.split(",").map((s) => s.trim());
  if (stores.length === 0 || stores.some((s) => s !== "memory" && s !== "sqlite")) {
    throw new TypeError(
      `--store must be memory, sqlite or memory,sqlite: current value is ${values.store}`,
    );
  }
  const target = values.target;
  if (target !== "native" && target !== "compat") {
    throw new TypeError(`--target must be native or compat: current value is ${target}`);
  }
  const count = (name: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) {
      throw new TypeError(`--${name} must be a non-negative integer: current value is ${raw}`);
    }
    return n;
  };
  return {
    target,
    stores: stores as ("memory" | "sqlite")[],
    jobs: count("jobs", values.jobs),
    concurrency: Math.max(1, count("concurrency", values.concurrency)),
    warmup: count("warmup", values.warmup),
    offlineDelayMs: count("offline-delay-ms", values["offline-delay-ms"]),
    llmDelayMs: values["llm-delay-ms"] === undefined
      ? undefined
      : count("llm-delay-ms", values["llm-delay-ms"]),
    urls: values.urls.split(",").map((u) => u.trim().replace(/\/$/, "")).filter((u) => u !== ""),
    compare: parseCompare(values.compare),
    floor: !values["no-floor"],
    quillflow: !values["no-quillflow"],
    rounds: Math.max(1, count("rounds", values.rounds)),
    relay,
    protos,
  };
}

if (import.meta.main) {
  const options = parseLoadArgs(Deno.args);
  const figures = await runLoad(options);
  console.log(
    `load: target ${options.target}, ${options.jobs} jobs × ${options.rounds} at concurrency ${options.concurrency}, ${
      options.llmDelayMs === undefined
        ? `offline delay ${options.offlineDelayMs} ms`
        : `openai provider, LLM delay ${options.llmDelayMs} ms`
    }`,
  );
  console.log(loadTable(figures, options));
  console.log(`machine: ${await describeMachine()}`);
  console.log(`FIGURES ${JSON.stringify({ kind: "load", options, figures })}`);
}
