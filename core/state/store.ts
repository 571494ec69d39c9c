/**
 * Soft state: live call sessions, short caches, rate-limit counters, idempotency keys and one-time tokens.
 * Two adapters (Redis, Postgres) behind this one interface pass one shared test suite. Nothing here is
 * authoritative for money or bookings: Postgres tables are.
 */
export type CasResult = { ok: true; version: number } | { ok: false; reason: 'stale' | 'missing'; version: number };

export interface StateStore {
  readonly kind: 'redis' | 'postgres';
  /** Creates a versioned document (version 1) unless the key exists. */
  createDoc(key: string, doc: unknown, ttlSec: number): Promise<boolean>;
  getDoc<T>(key: string): Promise<{ doc: T; version: number } | null>;
  /** Atomic compare-and-set on the version; resets the TTL. */
  casDoc(key: string, expectedVersion: number, doc: unknown, ttlSec: number): Promise<CasResult>;
  /** Read-modify-write with retries on version conflicts. Returns null when the doc is missing. */
  updateDoc<T>(key: string, fn: (doc: T) => T, ttlSec: number): Promise<{ doc: T; version: number } | null>;
  extend(key: string, ttlSec: number): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** SET NX with TTL: idempotency keys, locks, "one stream per call". */
  setIfAbsent(key: string, value: string, ttlSec: number): Promise<boolean>;
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlSec: number): Promise<void>;
  /** Atomically reads and deletes: one-time tokens. */
  take(key: string): Promise<string | null>;
  /** Fixed-window counter: increments and returns the count within the window. */
  hit(key: string, windowSec: number): Promise<number>;
  /**
   * Reserves one of `limit` slots under `key` for `holder` until `ttlMs` from now (the store's own clock, so every
   * process agrees), atomically: a concurrency cap (release the slot when the work ends) or a sliding-window rate
   * (never release: at most `limit` reservations per `ttlMs`). A holder that already has a slot keeps it, refreshed.
   * When full, says how long until the earliest slot expires.
   */
  acquireSlot(o: SlotRequest): Promise<SlotResult>;
  /** Gives a slot back before its expiry (idempotent). */
  releaseSlot(key: string, holder: string): Promise<void>;
  /**
   * Books the next turn of an evenly spaced schedule under `key`, atomically and on the store's own clock: turns are
   * `intervalMs` apart (fractions allowed), each at the later of now and the previous turn + intervalMs. Returns how
   * long the caller must wait for its turn (0 when it is now). Unlike polling a slot, a turn is never lost to a
   * late timer or a round trip: the schedule advances by the interval, not by when a waiter came back to ask.
   */
  reserveTurn(key: string, intervalMs: number): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  /**
   * Subscribes on one dedicated connection per store. When that connection drops, the adapter reconnects with
   * backoff and resubscribes; whatever was published in between is lost, so see `onResubscribed`.
   */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /**
   * Called after the subscriber connection came back and is listening again: messages published while it was
   * down were missed, so a cache that relies on them must drop everything. Returns an unregister function.
   */
  onResubscribed(fn: () => void): () => void;
  /** Name of the subscriber connection (Redis CLIENT LIST `name`, Postgres `application_name`), for operators. */
  readonly subscriberName: string;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface SlotRequest { key: string; holder: string; limit: number; ttlMs: number }
export type SlotResult = { ok: true } | { ok: false; retryAfterMs: number };

/** Shared retry loop for updateDoc so both adapters get identical semantics. */
export async function casLoop<T>(store: Pick<StateStore, 'getDoc' | 'casDoc'>, key: string, fn: (doc: T) => T, ttlSec: number): Promise<{ doc: T; version: number } | null> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const cur = await store.getDoc<T>(key);
    if (!cur) return null;
    const next = fn(cur.doc);
    const r = await store.casDoc(key, cur.version, next, ttlSec);
    if (r.ok) return { doc: next, version: r.version };
    if (r.reason === 'missing') return null;
  }
  throw new Error(`state update on ${key} lost 20 races in a row`);
}

/** Reconnect delays for subscriber connections: exponential from `minMs`, capped at `maxMs`, with jitter. */
export interface ReconnectBackoff { minMs: number; maxMs: number }
export const DEFAULT_RECONNECT_BACKOFF: ReconnectBackoff = { minMs: 100, maxMs: 5000 };

export function backoffDelay(b: ReconnectBackoff, attempt: number): number {
  const base = Math.min(b.maxMs, b.minMs * 2 ** Math.min(attempt, 20));
  // ±20 % jitter so a fleet that lost its broker at once doesn't reconnect in lockstep.
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
