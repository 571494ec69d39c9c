import { rateLimit } from 'express-rate-limit';
import { ServiceLaneError } from '../errors.js';
/**
 * express-rate-limit store over StateStore.hit, so counters are shared by every api pod on Redis or on
 * Postgres alike. Windows are aligned to wall-clock buckets, which gives an exact reset time without a
 * second read.
 */
export class StateRateLimitStore {
    state;
    prefix;
    logger;
    windowMs = 60_000;
    localKeys = false;
    constructor(state, prefix, logger) {
        this.state = state;
        this.prefix = prefix;
        this.logger = logger;
    }
    init(options) { this.windowMs = options.windowMs; }
    bucket(now = Date.now()) { return Math.floor(now / this.windowMs); }
    async increment(key) {
        const b = this.bucket();
        const windowSec = Math.ceil(this.windowMs / 1000);
        try {
            const totalHits = await this.state.hit(`${this.prefix}${key}:${b}`, windowSec);
            return { totalHits, resetTime: new Date((b + 1) * this.windowMs) };
        }
        catch (e) {
            this.logger?.warn({ err: e.message, limiter: this.prefix }, 'rate-limit store unavailable; request let through');
            throw e;
        }
    }
    /** Only used with skip*Requests options, which we don't set; a fixed-window counter can't go down. */
    decrement(_key) { }
    async resetKey(key) { await this.state.delete(`${this.prefix}${key}:${this.bucket()}`); }
}
/**
 * One limiter per key kind (IP before auth, token subject after). Over the limit → 429 ADM_ERR_RATE_LIMITED
 * through the shared error handler. A store outage lets requests through (with a warning) rather than
 * locking every admin out.
 */
export function limiter(o) {
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
//# sourceMappingURL=rate-limit.js.map