/**
 * Keeps webhooks from reaching what only the server can reach (server-side request forgery): a
 * destination whose host is, or resolves to, a loopback, private, link-local or otherwise
 * non-public address is refused unless such addresses are allowed (`WEBHOOK_ALLOW_PRIVATE=1`).
 * The check runs when a per-job webhook is given and again before every attempt, since a name
 * can point elsewhere by then. Redirects are not followed by the sender, so a public endpoint
 * cannot bounce a webhook inward. What remains is a name that changes its answer between this
 * check and the connection (DNS rebinding with a zero TTL): the fetch resolves the name again.
 *
 * @module
 */

/**
 * Thrown when a destination is refused; the message says why, naming the address. `unresolved`
 * when its name has no address now, which may pass; `not_public` when it is not a public
 * address, which will not.
 */
export class DestinationRefusedError extends Error {
  /** Why: the name has no address now, or the address is not public. */
  readonly reason: "unresolved" | "not_public";
  /** Creates the error. */
  constructor(
    reason: "unresolved" | "not_public",
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "DestinationRefusedError";
    this.reason = reason;
  }
}

/** Looks up a host's addresses; `Deno.resolveDns` for A and AAAA by default. */
export type ResolveAddresses = (host: string) => Promise<string[]>;

/** IPv4 ranges that are not public: [first octets as a number, prefix length, what]. */
const V4_BLOCKED: [string, number, string][] = [
  ["0.0.0.0", 8, "a 'this network' address"],
  ["10.0.0.0", 8, "a private address"],
  ["100.64.0.0", 10, "a shared (carrier-grade NAT) address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local address"],
  ["172.16.0.0", 12, "a private address"],
  ["192.0.0.0", 24, "a protocol-assignment address"],
  ["192.168.0.0", 16, "a private address"],
  ["198.18.0.0", 15, "a benchmarking address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved address"],
];

function v4Number(ip: string): number | undefined {
  const parts = ip.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^\d{1,3}$/.test(part) && Number(part) < 256)) {
    return undefined;
  }
  return parts.reduce((n, part) => n * 256 + Number(part), 0);
}

function classifyV4(ip: string): string | null {
  const n = v4Number(ip) as number;
  for (const [base, bits, what] of V4_BLOCKED) {
    const size = 2 ** (32 - bits);
    const start = v4Number(base) as number;
    if (n >= start && n < start + size) return what;
  }
  return null;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function v6Groups(ip: string): number[] | undefined {
  let text = ip.toLowerCase();
  const zone = text.indexOf("%");
  if (zone !== -1) text = text.slice(0, zone);
  if (text.includes(".")) {
    // A trailing dotted IPv4 address stands for the last two groups.
    const at = text.lastIndexOf(":");
    const n = v4Number(text.slice(at + 1));
    if (at === -1 || n === undefined) return undefined;
    text = `${text.slice(0, at + 1)}${Math.floor(n / 65536).toString(16)}:${
      (n % 65536).toString(16)
    }`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (half: string) => half === "" ? [] : half.split(":");
  const head = parse(halves[0] as string);
  const tail = halves.length === 2 ? parse(halves[1] as string) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return undefined;
  return groups.map((group) => parseInt(group, 16));
}

function classifyV6(groups: number[]): string | null {
  const [a = 0, b = 0, , , , f = 0, g = 0, h = 0] = groups;
  const zeroUpTo = (n: number) => groups.slice(0, n).every((x) => x === 0);
  const embedded = `${g >> 8}.${g & 255}.${h >> 8}.${h & 255}`;
  if (zeroUpTo(8)) return "the unspecified address";
  if (zeroUpTo(7) && h === 1) return "a loopback address";
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): the IPv4 address decides.
  if (zeroUpTo(5) && (f === 0xffff || f === 0)) return classifyV4(embedded);
  // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
  if (a === 0x64 && b === 0xff9b && groups.slice(2, 6).every((x) => x === 0)) {
    return classifyV4(embedded);
  }
  if ((a & 0xfe00) === 0xfc00) return "a private (unique local) address";
  if ((a & 0xffc0) === 0xfe80) return "a link-local address";
  if ((a & 0xffc0) === 0xfec0) return "a site-local address";
  if ((a & 0xff00) === 0xff00) return "a multicast address";
  return null;
}

/**
 * What keeps `ip` (IPv4 or IPv6 text) from being a public destination, such as
 * `"a loopback address"`; `null` for a public address. Text that is no address is refused too.
 *
 * @example
 * ```ts
 * import { nonPublicReason } from "./destination_guard.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(nonPublicReason("127.0.0.1"), "a loopback address");
 * assert.equal(nonPublicReason("::ffff:10.1.2.3"), "a private address");
 * assert.equal(nonPublicReason("fe80::1"), "a link-local address");
 * assert.equal(nonPublicReason("93.184.216.34"), null);
 * assert.equal(nonPublicReason("2606:4700::1111"), null);
 * ```
 */
export function nonPublicReason(ip: string): string | null {
  if (v4Number(ip) !== undefined) return classifyV4(ip);
  const groups = v6Groups(ip);
  return groups ? classifyV6(groups) : "not an IP address";
}

/** A and AAAA records of `host` with Deno's resolver; rejects when it has neither. */
export const resolveWithDns: ResolveAddresses = async (host) => {
  const signal = AbortSignal.timeout(5_000);
  const found = await Promise.allSettled([
    Deno.resolveDns(host, "A", { signal }),
    Deno.resolveDns(host, "AAAA", { signal }),
  ]);
  const addresses = found.flatMap((result) => result.status === "fulfilled" ? result.value : []);
  if (addresses.length > 0) return addresses;
  const failure = found.find((result) => result.status === "rejected");
  throw new Error(`${host} has no address`, {
    cause: failure?.status === "rejected" ? failure.reason : undefined,
  });
};

/** Settings of a {@linkcode DestinationGuard}. */
export interface DestinationGuardOptions {
  /** Lets every destination through, private ones included. */
  allowPrivate: boolean;
  /** How names are resolved; DNS by default. */
  resolve?: ResolveAddresses;
}

/**
 * Refuses destinations that are not public, unless told to allow them.
 *
 * @example
 * ```ts
 * import { DestinationGuard, DestinationRefusedError } from "./destination_guard.ts";
 * import assert from "node:assert/strict";
 *
 * const guard = new DestinationGuard({ allowPrivate: false, resolve: () => Promise.resolve(["10.0.0.7"]) });
 * await assert.rejects(guard.check(new URL("http://[::1]:8080/hook")), DestinationRefusedError);
 * await assert.rejects(guard.check(new URL("http://localhost/hook")), /loopback/);
 * await assert.rejects(guard.check(new URL("https://hooks.example/x")), /10\.0\.0\.7/);
 * await new DestinationGuard({ allowPrivate: true }).check(new URL("http://127.0.0.1/"));
 * ```
 */
export class DestinationGuard {
  readonly #allowPrivate: boolean;
  readonly #resolve: ResolveAddresses;

  /** Creates the guard. */
  constructor(options: DestinationGuardOptions) {
    this.#allowPrivate = options.allowPrivate;
    this.#resolve = options.resolve ?? resolveWithDns;
  }

  /**
   * Resolves when `url` may be sent to; rejects with {@linkcode DestinationRefusedError} when its
   * host is or resolves to a non-public address, or cannot be resolved.
   */
  async check(url: URL): Promise<void> {
    if (this.#allowPrivate) return;
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const name = host.toLowerCase().replace(/\.$/, "");
    let addresses: string[];
    if (v4Number(name) !== undefined || v6Groups(name) !== undefined) {
      addresses = [name];
    } else if (name === "localhost" || name.endsWith(".localhost")) {
      // Always loopback (RFC 6761), whatever a resolver says.
      addresses = ["127.0.0.1"];
    } else {
      try {
        addresses = await this.#resolve(name);
      } catch (error) {
        throw new DestinationRefusedError("unresolved", `${name} cannot be resolved`, {
          cause: error,
        });
      }
    }
    for (const address of addresses) {
      const reason = nonPublicReason(address);
      if (reason !== null) {
        const shown = address === name ? address : `${name} (${address})`;
        throw new DestinationRefusedError(
          "not_public",
          `${shown} is ${reason}; such destinations are refused unless WEBHOOK_ALLOW_PRIVATE=1`,
        );
      }
    }
  }
}
