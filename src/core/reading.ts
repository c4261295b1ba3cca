/**
 * A metric read at render time, the shape `/metrics` renders: the job core's figures, and those
 * of parts below the HTTP layer (the webhook counters) that cannot import it.
 *
 * @module
 */

/** A metric read at render time: its type, help text and value by label set (`{a="b"}` or ""). */
export interface Reading {
  /** The Prometheus metric type. */
  type: "counter" | "gauge";
  /** The `# HELP` line's text. */
  help: string;
  /** Each label set (`{a="b"}`, or "" for none) and its value. */
  values: [labels: string, value: number][];
}
