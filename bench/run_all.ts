/**
 * The whole benchmark kit in one command (`deno task bench`): the load script on the
 * compatibility and native routes at zero LLM delay, the 50 ms LLM run through the `openai`
 * provider, fan-out, idle streams, then the `deno bench` micro-benchmarks. Each scenario runs as
 * its own process (a fresh client); their tables are printed as they finish, then every goal of
 * the benchmark issue with its measured value and whether it held.
 *
 * `--quick` runs every scenario small, to check the kit works in a minute or two.
 *
 * @module
 */

import { fixed, formatTable } from "./figures_table.ts";
import type { FanoutFigures } from "./fanout.ts";
import type { IdleFigures } from "./idle_streams.ts";
import type { LoadFigures } from "./load.ts";
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
  | { kind: "idle"; figures: IdleFigures[] };

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
      goal: "zero delay: CPU/job ≤ 1.5 × floor",
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
      goal: "durable store: CPU/job ≤ 2 × floor",
      measured: `${fixed(durable.cpuMsPerJob, 3)} vs ${fixed(floor.cpuMsPerJob, 3)} ms = ${
        fixed(cpu, 2)
      } × (memory store ${fixed(service.cpuMsPerJob / floor.cpuMsPerJob, 2)} ×); jobs/s ${
        fixed(durable.jobsPerSecond / service.jobsPerSecond, 2)
      } × the memory store's`,
      held: cpu <= 2,
    });
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
