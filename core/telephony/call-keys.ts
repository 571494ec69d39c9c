import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import type { StateStore } from '../state/store.js';

/**
 * The few keys that stand between Twilio and a live call: the voice webhook's replay claim, the media
 * stream's one-time token, and the "one stream per call" claim. They live in the state store; when that
 * store fails (Redis down while Postgres is healthy) they fall back to a second store over Postgres
 * (platform.kv), so calls keep being answered instead of Twilio hearing a 500 and playing its
 * "application error". Reads consult both, so a key written during an outage still counts after it:
 * a replay is refused and a token minted during the outage still works once Redis is back.
 *
 * A won claim consults the fallback only while it may hold keys: for the longest key TTL after any process
 * served a key from it (that process marks it on the state store once it is back). Otherwise every stream
 * start would pay a Postgres read before the greeting, for keys that can't exist.
 */
/** The longest TTL of a call key (the stream claim): how long after an outage the fallback may hold one. */
const MAX_KEY_TTL_SEC = 3600;
/** On the primary: until when (epoch ms) the fallback may hold keys, set by a process whose outage ended. */
export const FALLBACK_MARK_KEY = 'callkeys:fallback-until';

export class CallKeys implements Pick<StateStore, 'setIfAbsent' | 'get' | 'set' | 'take' | 'delete'> {
  private primaryDown = false;
  /** Until when (epoch ms) this process may have left keys on the fallback. */
  private fallbackUsedUntil = 0;

  constructor(private readonly o: {
    primary: StateStore;
    /** Postgres-backed store for outages; null when the primary already is Postgres (nothing to fall back to). */
    fallback: StateStore | null;
    logger: Logger;
  }) {}

  private async onPrimary<T>(op: string, fn: (s: StateStore) => Promise<T>, fallback: (s: StateStore) => Promise<T>): Promise<T> {
    try {
      const r = await fn(this.o.primary);
      if (this.primaryDown) {
        this.primaryDown = false;
        this.o.logger.info('state store reachable again; call keys back on it');
        // Tell the other processes: claims they win must check the fallback until our keys there have expired.
        void this.o.primary.set(FALLBACK_MARK_KEY, String(this.fallbackUsedUntil), MAX_KEY_TTL_SEC)
          .catch((err: Error) => this.o.logger.warn({ err: err.message }, 'fallback mark not written; other processes may miss an outage claim'));
      }
      return r;
    } catch (e) {
      if (!this.o.fallback) throw e;
      // One line per outage; the metric counts every operation served by Postgres.
      if (!this.primaryDown) {
        this.primaryDown = true;
        this.o.logger.warn({ err: (e as Error).message }, 'state store unavailable; webhook dedupe and stream tokens fall back to Postgres');
      }
      metrics.telephonyKeyFallback.inc({ op });
      this.fallbackUsedUntil = Date.now() + MAX_KEY_TTL_SEC * 1000;
      return fallback(this.o.fallback);
    }
  }

  /** SET NX with TTL. A claim the fallback already holds (made during an outage) is refused on the primary too. */
  async setIfAbsent(key: string, value: string, ttlSec: number): Promise<boolean> {
    let onFallback = false;
    const [won, mayHold] = await Promise.all([
      this.onPrimary('claim', (s) => s.setIfAbsent(key, value, ttlSec), (s) => { onFallback = true; return s.setIfAbsent(key, value, ttlSec); }),
      this.fallbackMayHoldKeys(),
    ]);
    if (!won || onFallback || !this.o.fallback || !mayHold) return won;
    if ((await this.o.fallback.get(key)) === null) return true;
    // Taken while Redis was down: give the primary claim back so readers find the fallback's answer.
    await this.o.primary.delete(key).catch((e: Error) => this.o.logger.warn({ err: e.message }, 'could not release a duplicate claim on the state store'));
    return false;
  }

  /** Whether any process served call keys from the fallback recently enough that one may still be there. */
  private async fallbackMayHoldKeys(): Promise<boolean> {
    if (!this.o.fallback) return false;
    if (Date.now() < this.fallbackUsedUntil) return true;
    // Unreadable mark (the primary is failing too): assume it may, the safe side.
    const mark = await this.o.primary.get(FALLBACK_MARK_KEY).catch(() => String(Number.MAX_SAFE_INTEGER));
    return mark !== null && Date.now() < Number(mark);
  }

  /** The value, from the primary or (when absent or empty there, or the primary is down) from the fallback. */
  async get(key: string): Promise<string | null> {
    const p = await this.onPrimary('get', (s) => s.get(key), async () => null);
    if (p || !this.o.fallback) return p;
    return (await this.o.fallback.get(key)) ?? p;
  }

  async set(key: string, value: string, ttlSec: number): Promise<void> {
    await this.onPrimary('set', (s) => s.set(key, value, ttlSec), (s) => s.set(key, value, ttlSec));
  }

  /** Atomic read-and-delete (one-time tokens): the primary's copy, else the fallback's. */
  async take(key: string): Promise<string | null> {
    const p = await this.onPrimary('take', (s) => s.take(key), async () => null);
    if (p !== null || !this.o.fallback) return p;
    return this.o.fallback.take(key);
  }

  /** Best effort on both stores; a failure is logged (the key expires by its TTL). */
  async delete(key: string): Promise<void> {
    const log = (where: string) => (e: Error) => this.o.logger.warn({ err: e.message, where }, 'call key not deleted; it expires by its TTL');
    await Promise.all([
      this.o.primary.delete(key).catch(log('state store')),
      this.o.fallback?.delete(key).catch(log('postgres fallback')),
    ]);
  }
}
