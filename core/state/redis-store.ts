import { Redis, type Result } from 'ioredis';
import crypto from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { backoffDelay, casLoop, DEFAULT_RECONNECT_BACKOFF, type CasResult, type ReconnectBackoff, type SlotRequest, type SlotResult, type StateStore } from './store.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    /** [1, newVersion] written | [0, currentVersion] stale | [-1, 0] missing */
    docCas(key: string, expectedVersion: string, doc: string, ttlSec: string): Result<[number, number], Context>;
    docCreate(key: string, doc: string, ttlSec: string): Result<number, Context>;
    /** [1, 0] reserved | [0, msUntilTheEarliestSlotFrees] full */
    slotAcquire(key: string, holder: string, limit: string, ttlMs: string): Result<[number, number], Context>;
    /** µs to wait for the booked turn */
    turnReserve(key: string, intervalUs: string): Result<number, Context>;
  }
}

// JSON stays an opaque string inside Lua: a cjson round trip turns [] into {} and mangles big numbers.
const CAS = `
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {-1, 0} end
if v ~= ARGV[1] then return {0, tonumber(v)} end
local nv = tonumber(v) + 1
redis.call('HSET', KEYS[1], 'v', nv, 'doc', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, nv}`;
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', 1, 'doc', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1`;

// A sorted set of holders scored by their expiry (ms, Redis's own clock): expired holders are dropped first, so
// a crashed process's slot frees itself. The key lives as long as its longest slot.
const SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, math.max(1, tonumber(first[2]) - now)}`;

// The next free turn (µs, Redis's clock) is the key's value; it lives a second past that turn.
const TURN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local nxt = at + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)
return at - now`;

/**
 * Redis adapter. Scripts are called on their own, never inside multi(), where NOSCRIPT would not recover.
 * `enableOfflineQueue: false` makes commands fail fast when Redis is gone, so a live call keeps going from
 * its in-process state instead of hanging.
 */
export class RedisStateStore implements StateStore {
  readonly kind = 'redis' as const;
  private readonly redis: Redis;
  private readonly prefix: string;
  private subscriber?: Redis;
  private readonly handlers = new Map<string, Set<(m: string) => void>>();
  private readonly resubscribed = new Set<() => void>();
  readonly subscriberName = `sl-sub-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;
  private readonly backoff: ReconnectBackoff;
  private readonly logger?: Logger;

  constructor(o: { url: string; prefix?: string; commandTimeoutMs?: number; reconnect?: ReconnectBackoff; logger?: Logger }) {
    this.prefix = o.prefix ?? 'sl:';
    this.backoff = o.reconnect ?? DEFAULT_RECONNECT_BACKOFF;
    this.logger = o.logger;
    this.redis = new Redis(o.url, { keyPrefix: this.prefix, enableOfflineQueue: false, commandTimeout: o.commandTimeoutMs ?? 1000, maxRetriesPerRequest: 1, lazyConnect: false });
    this.redis.on('error', () => { /* surfaced per command; reconnects on its own */ });
    this.redis.defineCommand('docCas', { numberOfKeys: 1, lua: CAS });
    this.redis.defineCommand('docCreate', { numberOfKeys: 1, lua: CREATE });
    this.redis.defineCommand('slotAcquire', { numberOfKeys: 1, lua: SLOT });
    this.redis.defineCommand('turnReserve', { numberOfKeys: 1, lua: TURN });
  }

  /** Waits for the first connection (offline queue is off, so early commands would fail). */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('redis not ready after 5s')), 5000);
      this.redis.once('ready', () => { clearTimeout(t); resolve(); });
    });
  }

  async createDoc(key: string, doc: unknown, ttlSec: number): Promise<boolean> {
    return (await this.redis.docCreate(key, JSON.stringify(doc), String(ttlSec))) === 1;
  }
  async getDoc<T>(key: string): Promise<{ doc: T; version: number } | null> {
    const [v, doc] = await this.redis.hmget(key, 'v', 'doc');
    if (v == null || doc == null) return null;
    return { doc: JSON.parse(doc) as T, version: Number(v) };
  }
  async casDoc(key: string, expectedVersion: number, doc: unknown, ttlSec: number): Promise<CasResult> {
    const [code, version] = await this.redis.docCas(key, String(expectedVersion), JSON.stringify(doc), String(ttlSec));
    if (code === 1) return { ok: true, version };
    return { ok: false, reason: code === 0 ? 'stale' : 'missing', version };
  }
  updateDoc<T>(key: string, fn: (doc: T) => T, ttlSec: number) { return casLoop<T>(this, key, fn, ttlSec); }
  async extend(key: string, ttlSec: number): Promise<boolean> { return (await this.redis.expire(key, ttlSec)) === 1; }
  async delete(key: string): Promise<void> { await this.redis.del(key); }
  async setIfAbsent(key: string, value: string, ttlSec: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'EX', ttlSec, 'NX')) === 'OK';
  }
  async get(key: string): Promise<string | null> { return this.redis.get(key); }
  async set(key: string, value: string, ttlSec: number): Promise<void> { await this.redis.set(key, value, 'EX', ttlSec); }
  async take(key: string): Promise<string | null> { return this.redis.getdel(key); }
  async hit(key: string, windowSec: number): Promise<number> {
    // pipeline (not multi): plain commands, and INCR+EXPIRE NX keeps the first window's expiry.
    const res = await this.redis.pipeline().incr(key).expire(key, windowSec, 'NX').exec();
    // A pipeline reports per-command errors in its result instead of rejecting: a count of 0 from a dead
    // connection would read as "under every limit", so surface the error to the caller.
    const [err, count] = res?.[0] ?? [new Error('redis pipeline returned no result'), null];
    if (err) throw err;
    return Number(count);
  }
  async acquireSlot(o: SlotRequest): Promise<SlotResult> {
    const [ok, wait] = await this.redis.slotAcquire(o.key, o.holder, String(o.limit), String(Math.max(1, Math.round(o.ttlMs))));
    return ok === 1 ? { ok: true } : { ok: false, retryAfterMs: wait };
  }
  async releaseSlot(key: string, holder: string): Promise<void> { await this.redis.zrem(key, holder); }
  async reserveTurn(key: string, intervalMs: number): Promise<number> {
    return (await this.redis.turnReserve(key, String(Math.max(1, Math.round(intervalMs * 1000))))) / 1000;
  }
  async publish(channel: string, message: string): Promise<void> { await this.redis.publish(this.prefix + channel, message); }
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const full = this.prefix + channel;
    if (!this.subscriber) this.subscriber = this.openSubscriber();
    let set = this.handlers.get(full);
    if (!set) { set = new Set(); this.handlers.set(full, set); await this.subscriber.subscribe(full); }
    set.add(onMessage);
    return async () => { set.delete(onMessage); };
  }
  onResubscribed(fn: () => void): () => void {
    this.resubscribed.add(fn);
    return () => { this.resubscribed.delete(fn); };
  }

  /**
   * Redis pub/sub is fire-and-forget: what is published while this connection is down never arrives. ioredis
   * reconnects (with our backoff) and resubscribes; once our own SUBSCRIBE on the new connection has answered
   * we are listening again, and only then do we tell the caches to drop what they hold.
   */
  private openSubscriber(): Redis {
    const sub = this.redis.duplicate({
      keyPrefix: '', enableOfflineQueue: true, connectionName: this.subscriberName,
      retryStrategy: (times: number) => backoffDelay(this.backoff, times - 1),
    });
    let everReady = false;
    let lost = false;
    sub.on('error', (e: Error) => { this.logger?.warn({ err: e.message, subscriber: this.subscriberName }, 'redis subscriber error; reconnecting'); });
    sub.on('close', () => { if (everReady) lost = true; });
    sub.on('ready', () => {
      if (!everReady) { everReady = true; return; }
      if (!lost) return;
      lost = false;
      metrics.subscriberReconnects.inc({ backend: 'redis' });
      const channels = [...this.handlers.keys()];
      // Replies on one connection come in order: when this answers, the automatic resubscribe has too.
      const again = channels.length ? sub.subscribe(...channels) : Promise.resolve(0);
      void again.catch((e: Error) => this.logger?.error({ err: e.message }, 'redis resubscribe failed; the next reconnect retries it'))
        .then(() => {
          this.logger?.warn({ subscriber: this.subscriberName }, 'redis subscriber reconnected; messages sent while it was down are lost, caches flushed');
          for (const fn of this.resubscribed) fn();
        });
    });
    sub.on('message', (ch: string, msg: string) => { for (const h of this.handlers.get(ch) ?? []) h(msg); });
    return sub;
  }
  async ping(): Promise<boolean> {
    try { return (await this.redis.ping()) === 'PONG'; } catch { return false; }
  }
  async close(): Promise<void> {
    this.subscriber?.disconnect();
    this.redis.disconnect();
  }
}
