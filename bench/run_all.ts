/**
 * The whole benchmark kit in one command (`deno task bench`): the load script on the
 * compatibility and native routes at zero LLM delay, the 50 ms LLM runs through the `openai`
 * provider (compatibility routes against the critical path, native routes against the relay
 * floor), CPU per streamed chunk against minimal readers, delivery lag at realistic pacing,
 * event-loop stalls under durable load and what the garbage collector promotes per job, fan-out,
 * idle streams, then the `deno bench` micro-benchmarks. Each scenario runs as its own process (a
 * fresh client); their tables are printed as they finish, then every goal of the benchmark issues
 * with its measured value and whether it held.
 *
 * `--quick` runs every scenario small, to check the kit works in a minute or two.
 *
 * @module
 */

import { fixed, formatTable } from "./figures_table.ts";
import { cheapestReader, type ChunkCostFigures } from "./chunk_cost.ts";
import type { FanoutFigures } from "./fanout.ts";
import type { PromotionFigures } from "./gc_promotion.ts";
import type { IdleFigures } from "./idle_streams.ts";
import type { LoadFigures } from "./load.ts";
import type { StallFigures } from "./loop_stalls.ts";
import type { PacedLevel } from "./paced_lag.ts";
import { describeMachine } from "./process_stats.ts";

const here = (file: string) => new URL(file, import.meta.url).pathname;
const PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-run", "--allow-read"];

interface Scenario {
  name: string;
  script: string;
  args: string[];
}

type Figures =
  | { kind: "load"; figures: LoadFigures[] }
  | { kind: "fanout"; figures: FanoutFigures[] }
  | { kind: "idle"; figures: IdleFigures[] }
  | { kind: "chunks"; figures: ChunkCostFigures[] }
  | { kind: "paced"; levels: PacedLevel[] }
  | { kind: "stalls"; figures: StallFigures[] }
  | { kind: "gc_promotion"; rows: PromotionFigures[] };

function scenarios(quick: boolean): Scenario[] {
  const n = (full: number, small: number) => String(quick ? small : full);
  return [
    {
      name: "zero-delay-compat",
      script: "load.ts",
      // Both stores in the same run, rounds alternating: the durable store's cost is their ratio.
      args: [
        "--target",
        "compat",
        "--jobs",
        n(2000, 300),
        "--concurrency",
        "100",
        "--store",
        "memory,sqlite",
        "--rounds",
        "2",
      ],
    },
    {
      name: "zero-delay-native",
      script: "load.ts",
      args: ["--target", "native", "--jobs", n(2000, 300), "--concurrency", "100"],
    },
    {
      name: "llm-50ms",
      script: "load.ts",
      args: [
        "--target",
        "compat",
        "--jobs",
        n(400, 100),
        "--concurrency",
        "100",
        "--warmup",
        "100",
        "--llm-delay-ms",
        "50",
        "--no-floor",
      ],
    },
    {
      // Issue 17, goal 2: the service against the relay floor, same LLM server, one run.
      name: "llm-50ms-relay",
      script: "load.ts",
      args: [
        "--target",
        "native",
        "--jobs",
        n(400, 100),
        "--concurrency",
        "100",
        "--warmup",
        "100",
        "--llm-delay-ms",
        "50",
        "--no-floor",
        "--relay",
        "tcp",
        "--rounds",
        n(2, 1),
      ],
    },
    {
      name: "chunk-cost",
      script: "chunk_cost.ts",
      args: quick ? ["--quick", "--rounds", "1"] : ["--rounds", "2"],
    },
    { name: "paced", script: "paced_lag.ts", args: ["--levels", quick ? "20,50" : "50,200,400"] },
    {
      name: "stalls",
      script: "loop_stalls.ts",
      args: ["--jobs", n(2000, 300), "--warmup", n(300, 100)],
    },
    // What the stalls' collections copy: bytes promoted per job (no goal of its own; the figure
    // that shows a job outliving its collections, docs/architecture.md).
    {
      name: "gc-promotion",
      script: "gc_promotion.ts",
      args: ["--jobs", n(2000, 300), "--loads", "50x20,50x100", "--store", "sqlite"],
    },
    { name: "fanout", script: "fanout.ts", args: ["--watchers", n(5000, 300)] },
    { name: "idle", script: "idle_streams.ts", args: ["--streams", n(10000, 1000)] },
  ];
}

async function runScenario(scenario: Scenario): Promise<Figures | undefined> {
  console.log(`\n## ${scenario.name}: ${scenario.script} ${scenario.args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, here(scenario.script), ...scenario.args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let figures: Figures | undefined;
  let pending = "";
  for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
    pending += text;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith("FIGURES ")) figures = JSON.parse(line.slice(8)) as Figures;
      else console.log(line);
    }
  }
  const { success } = await child.status;
  if (!success) console.log(`${scenario.name} failed`);
  return figures;
}

interface Goal {
  goal: string;
  measured: string;
  held: boolean | undefined;
}

function goals(results: Map<string, Figures>): Goal[] {
  const out: Goal[] = [];
  const load = (name: string) => {
    const r = results.get(name);
    return r?.kind === "load" ? r.figures : undefined;
  };
  const compat = load("zero-delay-compat");
  const floor = compat?.find((f) => f.name === "floor");
  const service = compat?.find((f) => f.name === "quillflow memory");
  const durable = compat?.find((f) => f.name === "quillflow sqlite");
  if (floor && service) {
    const tput = service.jobsPerSecond / floor.jobsPerSecond;
    out.push({
      goal: "zero delay, compat: jobs/s ≥ 0.8 × floor",
      measured: `${fixed(service.jobsPerSecond, 0)} vs ${fixed(floor.jobsPerSecond, 0)} = ${
        fixed(tput, 2)
      } ×`,
      held: tput >= 0.8,
    });
    const cpu = service.cpuMsPerJob / floor.cpuMsPerJob;
    out.push({
      goal: "17.5 zero delay: CPU/job ≤ 1.5 × floor",
      measured: `${fixed(service.cpuMsPerJob, 3)} vs ${fixed(floor.cpuMsPerJob, 3)} ms = ${
        fixed(cpu, 2)
      } ×`,
      held: cpu <= 1.5,
    });
  }
  const llm = load("llm-50ms")?.find((f) => f.name === "quillflow");
  if (llm) {
    out.push({
      goal: "50 ms LLM: job p50 ≤ 1.25 × 150 ms, p99 ≤ 1.8 × 150 ms",
      measured: `p50 ${fixed(llm.jobP50, 0)} ms (${fixed(llm.jobP50 / 150, 2)} ×), p99 ${
        fixed(llm.jobP99, 0)
      } ms (${fixed(llm.jobP99 / 150, 2)} ×)`,
      held: llm.jobP50 <= 1.25 * 150 && llm.jobP99 <= 1.8 * 150,
    });
  }
  const idle = results.get("idle");
  if (idle?.kind === "idle") {
    const f = idle.figures.find((x) => x.name === "floor");
    const q = idle.figures.find((x) => x.name === "quillflow");
    if (f && q) {
      const ratio = q.kibPerStream / f.kibPerStream;
      out.push({
        goal: `${q.streams} idle streams: KiB/stream ≤ 1.2 × floor, every stream a heartbeat`,
        measured: `${fixed(q.kibPerStream)} vs ${fixed(f.kibPerStream)} KiB = ${
          fixed(ratio, 2)
        } ×; heartbeats ${q.heartbeats}/${q.streams}`,
        held: ratio <= 1.2 && q.heartbeats === q.streams && q.opened === q.streams,
      });
    }
  }
  const fan = results.get("fanout");
  if (fan?.kind === "fanout") {
    const q = fan.figures.find((x) => x.name === "quillflow");
    if (q) {
      out.push({
        goal: `${q.watchers} watchers: every event to all, p99 < 100 ms`,
        measured: `${q.complete}/${q.watchers} complete; last-client p99 ${
          fixed(q.lastP99)
        } ms, each p99 ${fixed(q.eachP99)} ms`,
        held: q.complete === q.watchers && q.lastP99 < 100,
      });
    }
  }
  if (floor && service && durable) {
    const cpu = durable.cpuMsPerJob / floor.cpuMsPerJob;
    out.push({
      goal: "17.5 durable store: CPU/job ≤ 2 × floor",
      measured: `${fixed(durable.cpuMsPerJob, 3)} vs ${fixed(floor.cpuMsPerJob, 3)} ms = ${
        fixed(cpu, 2)
      } × (memory store ${fixed(service.cpuMsPerJob / floor.cpuMsPerJob, 2)} ×); jobs/s ${
        fixed(durable.jobsPerSecond / service.jobsPerSecond, 2)
      } × the memory store's`,
      held: cpu <= 2,
    });
  }
  out.push(...issue17Goals(results, load));
  return out;
}

/** The goals of issue 17 ("Performance where it matters") that the new scenarios measure. */
function issue17Goals(
  results: Map<string, Figures>,
  load: (name: string) => LoadFigures[] | undefined,
): Goal[] {
  const out: Goal[] = [];
  const chunks = results.get("chunk-cost");
  if (chunks?.kind === "chunks") {
    for (const { mode, rows } of chunks.figures) {
      const cheapest = cheapestReader(rows);
      const service = rows.find((r) => r.name === "quillflow");
      if (!cheapest || !service) continue;
      const per = (r: typeof service) => 1e6 * r.cpuS / r.chunks;
      const ratio = per(service) / per(cheapest);
      out.push({
        goal: `17.1 CPU per streamed chunk (${mode}) ≤ 2 × the cheapest reader`,
        measured: `${fixed(per(service), 1)} vs ${
          fixed(per(cheapest), 1)
        } µs (${cheapest.name}) = ${fixed(ratio, 2)} ×`,
        held: ratio <= 2,
      });
    }
  }
  const relayRun = load("llm-50ms-relay");
  const relay = relayRun?.find((f) => f.name === "relay");
  const q = relayRun?.find((f) => f.name === "quillflow");
  if (relay && q) {
    const p50 = q.jobP50 / relay.jobP50;
    const p99 = q.jobP99 / relay.jobP99;
    const cpu = q.cpuMsPerJob / relay.cpuMsPerJob;
    out.push({
      goal: "17.2 50 ms LLM, native, 400 @ 100: p50 ≤ 1.15 ×, p99 ≤ 1.5 ×, CPU/job ≤ 2 × relay",
      measured: `p50 ${fixed(q.jobP50, 0)} vs ${fixed(relay.jobP50, 0)} ms = ${
        fixed(p50, 2)
      } ×; p99 ${fixed(q.jobP99, 0)} vs ${fixed(relay.jobP99, 0)} ms = ${fixed(p99, 2)} ×; CPU ${
        fixed(q.cpuMsPerJob, 2)
      } vs ${fixed(relay.cpuMsPerJob, 2)} ms = ${fixed(cpu, 2)} ×`,
      held: p50 <= 1.15 && p99 <= 1.5 && cpu <= 2,
    });
  }
  const paced = results.get("paced");
  if (paced?.kind === "paced") {
    for (const { jobs, figures } of paced.levels) {
      const r = figures.find((f) => f.name.startsWith("relay"));
      const s = figures.find((f) => f.name === "quillflow");
      if (!r || !s) continue;
      const ratio = s.lagP99 / r.lagP99;
      out.push({
        goal: `17.3 paced, ${jobs} jobs: lag p99 ≤ 1.5 × relay`,
        measured: `${fixed(s.lagP99)} vs ${fixed(r.lagP99)} ms = ${fixed(ratio, 2)} × (CPU ${
          fixed(100 * s.cpuShare, 0)
        } % vs ${fixed(100 * r.cpuShare, 0)} %, RSS ${fixed(s.rssMiB, 0)} vs ${
          fixed(r.rssMiB, 0)
        } MiB)`,
        held: ratio <= 1.5 && s.errors === 0,
      });
    }
  }
  const stalls = results.get("stalls");
  if (stalls?.kind === "stalls") {
    for (const f of stalls.figures.filter((x) => x.name === "sqlite")) {
      out.push({
        goal:
          `17.4 durable load (${f.offlineDelayMs} ms/call × ${f.concurrency}): longest stall ≤ 5 ms`,
        measured: `${fixed(f.maxStallMs)} ms (${
          fixed(f.maxOwnStallMs)
        } ms less the main thread's wait for a CPU); ${f.checkpoints} checkpoints, longest ${
          fixed(f.maxCheckpointMs)
        } ms; memory store: ${
          fixed(
            stalls.figures.find((x) =>
              x.name === "memory" && x.offlineDelayMs === f.offlineDelayMs &&
              x.concurrency === f.concurrency
            )
              ?.maxStallMs ?? NaN,
          )
        } ms`,
        held: f.maxStallMs <= 5,
      });
    }
  }
  return out;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const results = new Map<string, Figures>();
  console.log(`machine at start: ${await describeMachine()}`);
  for (const scenario of scenarios(quick)) {
    const figures = await runScenario(scenario);
    if (figures) results.set(scenario.name, figures);
  }
  console.log("\n## micro-benchmarks: deno bench bench/");
  const bench = await new Deno.Command(Deno.execPath(), {
    args: ["bench", "--allow-read", here("./")],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!bench.success) console.log("deno bench failed");
  console.log(`\nmachine at end: ${await describeMachine()}`);
  console.log("\n## goals");
  console.log(formatTable(
    ["goal", "measured", "held"],
    goals(results).map((g) => [
      g.goal,
      g.measured,
      g.held === undefined ? "n/a" : g.held ? "yes" : "NO",
    ]),
  ));
}
