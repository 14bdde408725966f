import { createPublicKey, type KeyObject } from "node:crypto";
import { z } from "zod";

/** fal's JWKS could not be read: no webhook can be verified until it can (the receiver answers 503). */
export class WebhookKeysUnavailable extends Error {
  override readonly name = "WebhookKeysUnavailable";
}

/** Options of {@link FalWebhookKeys}. */
export interface FalWebhookKeysOptions {
  /** FAL_JWKS_URL. */
  url: string;
  /** How long a fetched key set is used before it is fetched again. @defaultValue 24 h (fal's advice) */
  maxAgeMs?: number;
  /**
   * The least time between two fetches forced by a signature that no known key verifies (a rotated key):
   * a stream of forged webhooks then costs fal one request per this interval, not one per forgery.
   * @defaultValue 10 s
   */
  minRefreshMs?: number;
  /** How long one fetch may take. @defaultValue 5 s */
  timeoutMs?: number;
  now?: () => number;
}

const jwksSchema = z.object({ keys: z.array(z.record(z.string(), z.unknown())) });

/**
 * fal's webhook public keys (a JSON Web Key Set of ED25519 keys), fetched on first use and cached. fal's
 * webhooks name no key, so a signature is tried against every key of the set; when none verifies, the set
 * is fetched again (at most every `minRefreshMs`): that is how a rotation is picked up without waiting
 * for the cache to age. Concurrent callers share one fetch.
 */
export class FalWebhookKeys {
  private keys: KeyObject[] | undefined;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private fetching: Promise<KeyObject[]> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: FalWebhookKeysOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The cached keys, fetched first when there are none yet or they are older than `maxAgeMs`. */
  async current(): Promise<KeyObject[]> {
    if (this.keys !== undefined && this.now() - this.fetchedAt < (this.options.maxAgeMs ?? 86_400_000)) {
      return this.keys;
    }
    return this.fetch();
  }

  /**
   * The keys fetched again, when the last fetch is at least `minRefreshMs` old; undefined (nothing new to
   * try) otherwise.
   */
  async refresh(): Promise<KeyObject[] | undefined> {
    if (this.fetching === undefined && this.now() - this.fetchedAt < (this.options.minRefreshMs ?? 10_000)) {
      return undefined;
    }
    return this.fetch();
  }

  private fetch(): Promise<KeyObject[]> {
    this.fetching ??= this.load().finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async load(): Promise<KeyObject[]> {
    let body: unknown;
    try {
      const response = await fetch(this.options.url, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = await response.json();
    } catch (error) {
      throw new WebhookKeysUnavailable(
        `could not fetch fal's webhook keys from ${this.options.url}: ${(error as Error).message}`,
      );
    }
    const parsed = jwksSchema.safeParse(body);
    if (!parsed.success) {
      throw new WebhookKeysUnavailable(
        `fal's webhook keys at ${this.options.url} are not a JWKS ({"keys": [...]})`,
      );
    }
    const keys = parsed.data.keys.flatMap((jwk) => {
      if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") return [];
      try {
        return [createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" })];
      } catch {
        return [];
      }
    });
    if (keys.length === 0) {
      throw new WebhookKeysUnavailable(`fal's webhook keys at ${this.options.url} hold no Ed25519 key`);
    }
    this.keys = keys;
    this.fetchedAt = this.now();
    return keys;
  }
}
