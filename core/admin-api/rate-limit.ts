import type express from 'express';
import { rateLimit, type Store, type ClientRateLimitInfo, type Options } from 'express-rate-limit';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';

/**
 * express-rate-limit store over StateStore.hit, so counters are shared by every api pod on Redis or on
 * Postgres alike. Windows are aligned to wall-clock buckets, which gives an exact reset time without a
 * second read.
 */
export class StateRateLimitStore implements Store {
  private windowMs = 60_000;
  readonly localKeys = false;
  constructor(private readonly state: StateStore, readonly prefix: string, private readonly logger?: Logger) {}

  init(options: Options): void { this.windowMs = options.windowMs; }

  private bucket(now = Date.now()): number { return Math.floor(now / this.windowMs); }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const b = this.bucket();
    const windowSec = Math.ceil(this.windowMs / 1000);
    try {
      const totalHits = await this.state.hit(`${this.prefix}${key}:${b}`, windowSec);
      return { totalHits, resetTime: new Date((b + 1) * this.windowMs) };
    } catch (e) {
      this.logger?.warn({ err: (e as Error).message, limiter: this.prefix }, 'rate-limit store unavailable; request let through');
      throw e;
    }
  }

  /** Only used with skip*Requests options, which we don't set; a fixed-window counter can't go down. */
  decrement(_key: string): void { /* intentionally not supported */ }

  async resetKey(key: string): Promise<void> { await this.state.delete(`${this.prefix}${key}:${this.bucket()}`); }
}

/**
 * One limiter per key kind (IP before auth, token subject after). Over the limit → 429 ADM_ERR_RATE_LIMITED
 * through the shared error handler. A store outage lets requests through (with a warning) rather than
 * locking every admin out.
 */
export function limiter(o: { state: StateStore; logger?: Logger; kind: 'ip' | 'token'; limitPerMin: number; key: (req: express.Request) => string }): express.RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: o.limitPerMin,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    passOnStoreError: true,
    store: new StateRateLimitStore(o.state, `rl:${o.kind}:`, o.logger),
    keyGenerator: (req) => o.key(req),
    handler: (_req, _res, next) => next(new ServiceLaneError('ADM_ERR_RATE_LIMITED', `too many requests for this ${o.kind === 'ip' ? 'address' : 'token'}`, { retryAfterSec: 60 })),
  });
}
