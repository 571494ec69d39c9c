import type express from 'express';
import { rateLimit, type Store, type ClientRateLimitInfo, type Options } from 'express-rate-limit';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';

/** Most distinct keys the per-process fallback counts in one window; beyond it new keys share one counter. */
const LOCAL_MAX_KEYS = 50_000;

/**
 * Fixed-window counters in this process's memory: what the limiter counts with while the shared store is
 * unreachable. Per process, so N api pods allow up to N × the limit during an outage (far better than no
 * limit). Only the current window is kept, and the key count is capped, so memory stays flat under a flood.
 */
export class LocalWindowCounter {
  private bucket = -1;
  private readonly counts = new Map<string, number>();

  hit(key: string, bucket: number): number {
    if (bucket !== this.bucket) { this.counts.clear(); this.bucket = bucket; }
    // A flood of distinct keys (spoofed addresses) shares one counter rather than growing the map.
    const k = this.counts.has(key) || this.counts.size < LOCAL_MAX_KEYS ? key : '\u0000overflow';
    const n = (this.counts.get(k) ?? 0) + 1;
    this.counts.set(k, n);
    return n;
  }

  reset(key: string): void { this.counts.delete(key); }
}

/**
 * express-rate-limit store over StateStore.hit, so counters are shared by every api pod on Redis or on
 * Postgres alike. Windows are aligned to wall-clock buckets, which gives an exact reset time without a
 * second read. When the store fails, the same windows are counted in process (LocalWindowCounter): the
 * limit degrades to per-pod instead of turning off: an outage must not open the API.
 */
export class StateRateLimitStore implements Store {
  private windowMs = 60_000;
  readonly localKeys = false;
  private readonly local = new LocalWindowCounter();
  private storeDown = false;
  constructor(private readonly state: StateStore, readonly prefix: string, private readonly logger?: Logger) {}

  init(options: Options): void { this.windowMs = options.windowMs; }

  private bucket(now = Date.now()): number { return Math.floor(now / this.windowMs); }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const b = this.bucket();
    const windowSec = Math.ceil(this.windowMs / 1000);
    const resetTime = new Date((b + 1) * this.windowMs);
    try {
      const totalHits = await this.state.hit(`${this.prefix}${key}:${b}`, windowSec);
      if (this.storeDown) {
        this.storeDown = false;
        this.logger?.info({ limiter: this.prefix }, 'rate-limit store reachable again; counting shared windows');
      }
      return { totalHits, resetTime };
    } catch (e) {
      // One line per outage, not per request: a flood during an outage must not also flood the log.
      if (!this.storeDown) {
        this.storeDown = true;
        this.logger?.warn({ err: (e as Error).message, limiter: this.prefix }, 'rate-limit store unavailable; limiting per process until it returns');
      }
      metrics.rateLimitFallback.inc({ limiter: this.prefix });
      return { totalHits: this.local.hit(key, b), resetTime };
    }
  }

  /** Only used with skip*Requests options, which we don't set; a fixed-window counter can't go down. */
  decrement(_key: string): void { /* intentionally not supported */ }

  async resetKey(key: string): Promise<void> {
    this.local.reset(key);
    await this.state.delete(`${this.prefix}${key}:${this.bucket()}`);
  }
}

/**
 * One limiter per key kind (IP before auth, token subject after). Over the limit → 429 ADM_ERR_RATE_LIMITED
 * through the shared error handler. A store outage neither locks admins out nor turns limiting off: the
 * store counts in process until the shared store returns. The body's retryAfterSec is the Retry-After header
 * express-rate-limit just set (seconds to the end of this window), so the two always agree.
 */
/** The Retry-After header express-rate-limit set for this 429 (whole seconds to the window's end). */
function retryAfterSec(res: express.Response): number {
  const v = Number(res.getHeader('Retry-After'));
  return Number.isFinite(v) && v > 0 ? v : 1;
}

export function limiter(o: { state: StateStore; logger?: Logger; kind: 'ip' | 'token'; limitPerMin: number; key: (req: express.Request) => string }): express.RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: o.limitPerMin,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // The store never throws (it falls back to per-process counting); should it ever, fail the request.
    passOnStoreError: false,
    store: new StateRateLimitStore(o.state, `rl:${o.kind}:`, o.logger),
    keyGenerator: (req) => o.key(req),
    handler: (_req, res, next) => next(new ServiceLaneError('ADM_ERR_RATE_LIMITED', `too many requests for this ${o.kind === 'ip' ? 'address' : 'token'}`, { retryAfterSec: retryAfterSec(res) })),
  });
}
