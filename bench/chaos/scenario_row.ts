/**
 * One scenario's row of the campaign table, the behaviour checks it must pass, and the table.
 *
 * @module
 */

import { formatTable } from "../figures_table.ts";
import { type Ledger, REQUEST_BOUND_MS } from "./ledger.ts";

/** One behaviour a scenario must show. */
export interface Check {
  /** What must hold, in words. */
  what: string;
  /** Whether it held. */
  ok: boolean;
  /** The figures behind it. */
  detail: string;
}

/** A scenario's figures and checks. */
export interface ScenarioRow {
  /** Its number and name. */
  scenario: string;
  /** Jobs answered `202`. */
  accepted: number;
  /** Of those, completed. */
  completed: number;
  /** Of those, failed, by reason (digits folded to `#`). */
  failed: Map<string, number>;
  /** Of those, unknown to the service or never finished. */
  lost: number;
  /** Event streams followed and checked. */
  streamsChecked: number;
  /** Of those, with a gap, a duplicate, an event after the terminal one, or a lost job. */
  streamsBad: number;
  /** Completed jobs whose stream was followed from the start. */
  articlesChecked: number;
  /** Of those, whose article equals the streamed text after resets. */
  articlesMatch: number;
  /** The longest any request waited for its answer, in ms. */
  longestWaitMs: number;
  /** Recovery after the fault, in words and figures. */
  recovery: string;
  /** Every behaviour check, the standard ones first. */
  checks: Check[];
  /** Anything else worth reading: refusals seen, problem samples. */
  notes: string[];
}

function fold(reason: string): string {
  return reason.replace(/\d+/g, "#");
}

/**
 * Builds the row from what `ledger` saw; `extra` adds the scenario's own checks and notes.
 * The standard checks: nothing accepted lost, streams whole, articles equal to their streams,
 * no request hung, every refusal clean JSON with `Retry-After`.
 */
export function rowFromLedger(
  scenario: string,
  ledger: Ledger,
  extra: { recovery: string; checks?: Check[]; notes?: string[] },
): ScenarioRow {
  const failed = new Map<string, number>();
  let completed = 0;
  let lost = 0;
  const lostReasons = new Map<string, number>();
  for (const id of ledger.accepted) {
    const outcome = ledger.outcomes.get(id);
    if (outcome?.status === "completed") completed++;
    else if (outcome?.status === "failed") {
      const key = fold(outcome.reason);
      failed.set(key, (failed.get(key) ?? 0) + 1);
    } else {
      lost++;
      const key = outcome?.reason ?? "not checked";
      lostReasons.set(key, (lostReasons.get(key) ?? 0) + 1);
    }
  }
  const bad = ledger.streams.filter((s) => s.problems.length > 0);
  const articles = ledger.streams.filter((s) => s.articleMatches !== undefined);
  const articlesMatch = articles.filter((s) => s.articleMatches).length;
  const malformed = [...ledger.malformed].map(([k, n]) => `${n}× ${k}`).join(", ");
  const checks: Check[] = [
    { what: "nothing accepted with 202 is lost", ok: lost === 0, detail: `${lost} lost` },
    {
      what: "ids 1..n with no gap or duplicate, nothing after a terminal event",
      ok: bad.length === 0,
      detail: `${bad.length} of ${ledger.streams.length} streams`,
    },
    {
      what: "the article equals the streamed text after resets",
      ok: articlesMatch === articles.length,
      detail: `${articlesMatch} of ${articles.length}`,
    },
    {
      what: "no request hangs",
      ok: ledger.hung === 0,
      detail: `${ledger.hung} past ${REQUEST_BOUND_MS / 1000} s; longest ${
        (ledger.longestWaitMs / 1000).toFixed(2)
      } s (${ledger.longestWait || "-"})`,
    },
    {
      what: "every refusal is JSON with Retry-After",
      ok: ledger.malformed.size === 0,
      detail: malformed || "all clean",
    },
    ...(extra.checks ?? []),
  ];
  const notes = [...(extra.notes ?? [])];
  if (ledger.refusals.size > 0) {
    notes.push(`refused: ${[...ledger.refusals].map(([k, n]) => `${n}× ${k}`).join(", ")}`);
  }
  for (const [reason, n] of lostReasons) notes.push(`lost ${n}: ${reason}`);
  for (const stream of bad.slice(0, 3)) {
    notes.push(`stream ${stream.jobId}: ${stream.problems.join("; ")}`);
  }
  return {
    scenario,
    accepted: ledger.accepted.length,
    completed,
    failed,
    lost,
    streamsChecked: ledger.streams.length,
    streamsBad: bad.length,
    articlesChecked: articles.length,
    articlesMatch,
    longestWaitMs: ledger.longestWaitMs,
    recovery: extra.recovery,
    checks,
    notes,
  };
}

/** Whether every check of `row` held. */
export function holds(row: ScenarioRow): boolean {
  return row.checks.every((c) => c.ok);
}

/** The campaign table, then each row's failure reasons, checks and notes. */
export function formatRows(rows: readonly ScenarioRow[]): string {
  const table = formatTable(
    [
      "scenario",
      "accepted",
      "completed",
      "failed",
      "lost",
      "streams",
      "gap/dup",
      "article = stream",
      "longest wait",
      "recovery",
      "holds",
    ],
    rows.map((r) => [
      r.scenario,
      // A row of watchers only (client churn) submits nothing.
      ...(r.accepted === 0 ? ["-", "-", "-", "-"] : [
        String(r.accepted),
        String(r.completed),
        String([...r.failed.values()].reduce((a, b) => a + b, 0)),
        String(r.lost),
      ]),
      String(r.streamsChecked),
      String(r.streamsBad),
      `${r.articlesMatch}/${r.articlesChecked}`,
      `${(r.longestWaitMs / 1000).toFixed(2)} s`,
      r.recovery,
      holds(r) ? "yes" : "NO",
    ]),
  );
  const details = rows.map((r) => {
    const lines = [`${r.scenario}:`];
    for (const [reason, n] of r.failed) lines.push(`  failed ${n}: ${reason}`);
    for (const c of r.checks) lines.push(`  [${c.ok ? "ok" : "FAIL"}] ${c.what}: ${c.detail}`);
    for (const note of r.notes) lines.push(`  note: ${note}`);
    return lines.join("\n");
  });
  return [table, "", ...details].join("\n");
}
