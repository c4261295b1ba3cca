/**
 * Whether the conventional proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`, either
 * case) send requests to a URL through a proxy. Deno's `fetch` follows them by itself; the
 * socket transport of streamed calls does not speak to proxies, so a client whose LLM sits
 * behind one streams through `fetch` instead.
 *
 * @module
 */

/** The proxy variables, as read from the environment. */
export interface ProxyEnv {
  httpProxy?: string | undefined;
  httpsProxy?: string | undefined;
  noProxy?: string | undefined;
}

/**
 * Reads the proxy variables through `env` (upper case first, as Deno does; an empty one counts
 * as unset). `env` reads an ungranted variable as unset, as `processEnv` does.
 *
 * @example
 * ```ts
 * import { readProxyEnv } from "./proxy_env.ts";
 * import assert from "node:assert/strict";
 *
 * const env = { https_proxy: "http://proxy:3128", NO_PROXY: "localhost" } as Record<string, string>;
 * assert.deepEqual(readProxyEnv((name) => env[name]), {
 *   httpProxy: undefined,
 *   httpsProxy: "http://proxy:3128",
 *   noProxy: "localhost",
 * });
 * ```
 */
export function readProxyEnv(env: (name: string) => string | undefined): ProxyEnv {
  // Each name written out, so the permission test (tests/tasks_test.ts) sees what is read.
  return {
    httpProxy: env("HTTP_PROXY") || env("http_proxy") || undefined,
    httpsProxy: env("HTTPS_PROXY") || env("https_proxy") || undefined,
    noProxy: env("NO_PROXY") || env("no_proxy") || undefined,
  };
}

/**
 * The proxy `url` goes through under `proxies`, or `undefined` when it goes direct: `NO_PROXY`
 * lists hosts (`example.com` also covers its subdomains; a leading `.` or `*.` only them),
 * optionally with a port, or `*` for every host.
 *
 * @example
 * ```ts
 * import { proxyFor } from "./proxy_env.ts";
 * import assert from "node:assert/strict";
 *
 * const proxies = { httpsProxy: "http://proxy:3128", noProxy: "localhost,.internal,10.0.0.5:8080" };
 * assert.equal(proxyFor(new URL("https://api.openai.com/v1"), proxies), "http://proxy:3128");
 * assert.equal(proxyFor(new URL("http://api.openai.com/v1"), proxies), undefined, "no HTTP_PROXY");
 * assert.equal(proxyFor(new URL("https://llm.internal/v1"), proxies), undefined);
 * assert.equal(proxyFor(new URL("https://10.0.0.5:8080/v1"), proxies), undefined);
 * assert.equal(proxyFor(new URL("https://10.0.0.5:8081/v1"), proxies), "http://proxy:3128");
 * ```
 */
export function proxyFor(url: URL, proxies: ProxyEnv): string | undefined {
  const proxy = url.protocol === "https:" ? proxies.httpsProxy : proxies.httpProxy;
  if (!proxy) return undefined;
  const host = url.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const raw of (proxies.noProxy ?? "").split(/[,\s]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return undefined;
    const portAt = entry.lastIndexOf(":");
    if (portAt !== -1 && !entry.endsWith("]") && /^\d+$/.test(entry.slice(portAt + 1))) {
      if (entry.slice(portAt + 1) !== port) continue;
      entry = entry.slice(0, portAt);
    }
    entry = entry.replace(/^\[(.*)\]$/, "$1");
    const subdomainsOnly = entry.startsWith(".") || entry.startsWith("*.");
    const domain = entry.replace(/^\*?\./, "");
    if (host.endsWith(`.${domain}`) || (!subdomainsOnly && host === domain)) return undefined;
  }
  return proxy;
}
