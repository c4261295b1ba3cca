/**
 * Signing webhooks as the Standard Webhooks specification says: an HMAC-SHA256, keyed with the
 * bytes of a `whsec_…` secret, of `<webhook-id>.<webhook-timestamp>.<body>`, sent as
 * `webhook-signature: v1,<base64>`. WebCrypto does the hashing.
 *
 * @module
 */

const PREFIX = "whsec_";
/** The specification's bounds on a secret's random bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/**
 * The key bytes of a `whsec_…` secret (base64 of 24 to 64 bytes). Throws a `TypeError` naming
 * `name` (the setting) when it is not one.
 *
 * @example
 * ```ts
 * import { decodeWebhookSecret } from "./webhook_signer.ts";
 * import assert from "node:assert/strict";
 *
 * const secret = "whsec_" + btoa("k".repeat(32));
 * assert.equal(decodeWebhookSecret(secret).length, 32);
 * assert.throws(() => decodeWebhookSecret("k".repeat(32)), TypeError);
 * assert.throws(() => decodeWebhookSecret("whsec_" + btoa("short")), TypeError);
 * ```
 */
export function decodeWebhookSecret(secret: string, name = "WEBHOOK_SECRET"): Uint8Array {
  const fail = (why: string) =>
    new TypeError(
      `${name} must be whsec_ followed by base64 of ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} random bytes: ${why}`,
    );
  if (!secret.startsWith(PREFIX)) throw fail("it does not start with whsec_");
  const encoded = secret.slice(PREFIX.length);
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
  } catch {
    throw fail("what follows whsec_ is not base64");
  }
  if (bytes.length < MIN_SECRET_BYTES || bytes.length > MAX_SECRET_BYTES) {
    throw fail(`it holds ${bytes.length} bytes`);
  }
  return bytes;
}

/** The headers of one signed attempt. */
export interface SignedHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/**
 * Signs webhook bodies with one secret.
 *
 * @example
 * ```ts
 * import { WebhookSigner } from "./webhook_signer.ts";
 * import assert from "node:assert/strict";
 *
 * const signer = await WebhookSigner.create("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
 * const headers = await signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}');
 * // The specification's own example.
 * assert.equal(headers["webhook-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
 * ```
 */
export class WebhookSigner {
  readonly #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** A signer for `secret` (`whsec_…`); throws a `TypeError` when it is not one. */
  static async create(secret: string): Promise<WebhookSigner> {
    const key = await crypto.subtle.importKey(
      "raw",
      decodeWebhookSecret(secret).slice(),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new WebhookSigner(key);
  }

  /** The headers that sign `body` as message `id` sent at `timestamp` (epoch seconds). */
  async sign(id: string, timestamp: number, body: string): Promise<SignedHeaders> {
    const content = new TextEncoder().encode(`${id}.${timestamp}.${body}`);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", this.#key, content));
    let binary = "";
    for (const byte of mac) binary += String.fromCharCode(byte);
    return {
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": `v1,${btoa(binary)}`,
    };
  }
}
