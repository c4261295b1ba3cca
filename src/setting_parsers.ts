/**
 * The parsers of the settings in `config.ts`: each reads a setting's text into its value, or
 * throws a `TypeError` that names the setting and the value.
 *
 * @module
 */

import { parseLlmPrices } from "./llm/llm_prices.ts";
import { decodeWebhookSecret } from "./webhooks/webhook_signer.ts";

/** Reads a setting's text; throws a `TypeError` naming the setting when it is not valid. */
export type Parser = (raw: string, name: string) => unknown;

/** An integer from `min` to `max`. */
export const int = (min: number, max: number): Parser => (raw, name) => {
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new TypeError(
      `${name} must be an integer from ${min} to ${max}: current value is ${JSON.stringify(raw)}`,
    );
  }
  return value;
};

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** The parsers made by `duration`, so help can show their defaults with a unit. */
const DURATIONS = new WeakSet<Parser>();

/** Whether `parse` reads a duration (so its default is shown with a unit). */
export function isDuration(parse: Parser): boolean {
  return DURATIONS.has(parse);
}

/** A duration such as `500ms`, `30s`, `15m`, `1h`; a bare number counts as `unit`. */
export const duration = (unit: "ms" | "s", min: number): Parser => {
  const parse: Parser = (raw, name) => parseDuration(raw, name, unit, min);
  DURATIONS.add(parse);
  return parse;
};

function parseDuration(raw: string, name: string, unit: "ms" | "s", min: number): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  const ms = match ? Number(match[1]) * (UNITS[match[2] ?? unit] as number) : NaN;
  if (!Number.isFinite(ms) || ms < min || ms > 365 * 86_400_000) {
    throw new TypeError(
      `${name} must be a duration such as 500ms, 30s, 15m or 1h (a bare number is ${unit}), at least ${min}ms: current value is ${
        JSON.stringify(raw)
      }`,
    );
  }
  return Math.round(ms);
}

/** `ms` in the largest unit that holds it exactly: 3600000 → `1h`, 600 → `600ms`. */
export function formatDuration(ms: number): string {
  const unit = (["h", "m", "s"] as const).find((u) => {
    const size = UNITS[u] as number;
    return ms >= size && ms % size === 0;
  });
  return unit ? `${ms / (UNITS[unit] as number)}${unit}` : `${ms}ms`;
}

/** Any text, as given. */
export const text: Parser = (raw) => raw;

/** One of `options`, exactly. */
export const oneOf = (options: readonly string[]): Parser => (raw, name) => {
  if (!options.includes(raw)) {
    throw new TypeError(
      `${name} must be one of ${options.join(", ")}: current value is ${JSON.stringify(raw)}`,
    );
  }
  return raw;
};

/** An http(s) URL. */
export const url: Parser = (raw, name) => {
  try {
    const parsed = new URL(raw);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError("not http");
    }
  } catch {
    throw new TypeError(`${name} must be an http(s) URL: current value is ${JSON.stringify(raw)}`);
  }
  return raw;
};

/** A redis:// or rediss:// URL. */
export const redisUrl: Parser = (raw, name) => {
  let protocol = "";
  try {
    protocol = new URL(raw).protocol;
  } catch {
    // reported below
  }
  if (protocol !== "redis:" && protocol !== "rediss:") {
    throw new TypeError(
      `${name} must be a redis:// or rediss:// URL: current value is ${JSON.stringify(raw)}`,
    );
  }
  return raw;
};

/** A comma-separated list, entries trimmed, empty ones dropped. */
export const list: Parser = (raw) => raw.split(",").map((s) => s.trim()).filter((s) => s !== "");

/** A comma-separated list of http(s) URLs without credentials, each parsed as `URL` does. */
export const urls: Parser = (raw, name) =>
  (list(raw, name) as string[]).map((entry) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(entry);
    } catch {
      // reported below
    }
    if (
      !parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:") ||
      parsed.username !== "" || parsed.password !== ""
    ) {
      throw new TypeError(
        `${name} must list http(s) URLs without credentials: ${JSON.stringify(entry)} is not one`,
      );
    }
    return parsed.href;
  });

/** A comma-separated list of http(s) origins (`https://hooks.example.com`), normalised. */
export const origins: Parser = (raw, name) =>
  (list(raw, name) as string[]).map((entry) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(entry);
    } catch {
      // reported below
    }
    const bare = parsed && (parsed.pathname === "/" || parsed.pathname === "") &&
      parsed.search === "" && parsed.hash === "" && parsed.username === "" &&
      parsed.password === "" && !entry.endsWith("/");
    if (!parsed || !bare || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      throw new TypeError(
        `${name} must list origins such as https://hooks.example.com (scheme, host, optional port; no path): ${
          JSON.stringify(entry)
        } is not one`,
      );
    }
    return parsed.origin;
  });

/** 1 or 0 (true or false, yes or no). */
export const yesNo: Parser = (raw, name) => {
  const value = raw.trim().toLowerCase();
  if (["1", "true", "yes"].includes(value)) return true;
  if (["0", "false", "no"].includes(value)) return false;
  throw new TypeError(
    `${name} must be 1 or 0 (true or false): current value is ${JSON.stringify(raw)}`,
  );
};

/** A webhook signing secret, `whsec_` then base64 of 24 to 64 bytes. */
export const webhookSecret: Parser = (raw, name) => {
  decodeWebhookSecret(raw, name);
  return raw;
};

/** LLM prices per model (see `llm_prices.ts`). */
export const prices: Parser = (raw, name) => parseLlmPrices(raw, name);
