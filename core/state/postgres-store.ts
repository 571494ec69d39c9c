import pg from 'pg';
import type { Knex } from 'knex';
import crypto from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { backoffDelay, casLoop, DEFAULT_RECONNECT_BACKOFF, type CasResult, type ReconnectBackoff, type SlotRequest, type SlotResult, type StateStore } from './store.js';

const T = 'platform.kv';
const LIVE = '(expires_at is null or expires_at > now())';

/**
 * Postgres adapter for REDIS_URL-less installs: an unlogged table (soft state, no WAL cost) plus
 * LISTEN/NOTIFY for pub/sub. Expired rows are treated as absent and swept periodically.
 */
export class PostgresStateStore implements StateStore {
  readonly kind = 'postgres' as const;
  private listener?: pg.Client;
  private connecting?: Promise<pg.Client>;
  private readonly handlers = new Map<string, Set<(m: string) => void>>();
  private readonly resubscribed = new Set<() => void>();
  private readonly sweep: NodeJS.Timeout;
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;
  readonly subscriberName = `sl-listen-${process.pid}-${crypto.randomBytes(3).toString('hex')}`;

  constructor(private readonly db: Knex, private readonly o: { databaseUrl: string; prefix?: string; reconnect?: ReconnectBackoff; logger?: Logger }) {
    this.sweep = setInterval(() => {
      void this.db.raw(`delete from ${T} where expires_at < now() - interval '1 minute'`)
        .catch((e: Error) => this.o.logger?.warn({ err: e.message }, 'kv sweep failed; expired rows stay (they read as absent) until the next sweep'));
    }, 60_000);
    this.sweep.unref();
  }

  private k(key: string): string { return (this.o.prefix ?? '') + key; }

  async createDoc(key: string, doc: unknown, ttlSec: number): Promise<boolean> {
    const r = await this.db.raw(
      `insert into ${T} (key, value, version, expires_at) values (?, ?, 1, now() + make_interval(secs => ?))
       on conflict (key) do update set value = excluded.value, version = 1, expires_at = excluded.expires_at
       where ${T}.expires_at is not null and ${T}.expires_at <= now()
       returning version`, [this.k(key), JSON.stringify(doc), ttlSec]);
    return r.rows.length === 1;
  }
  async getDoc<D>(key: string): Promise<{ doc: D; version: number } | null> {
    const r = await this.db.raw(`select value, version from ${T} where key = ? and ${LIVE}`, [this.k(key)]);
    const row = r.rows[0] as { value: string; version: number } | undefined;
    return row ? { doc: JSON.parse(row.value) as D, version: Number(row.version) } : null;
  }
  async casDoc(key: string, expectedVersion: number, doc: unknown, ttlSec: number): Promise<CasResult> {
    const r = await this.db.raw(
      `update ${T} set value = ?, version = version + 1, expires_at = now() + make_interval(secs => ?)
       where key = ? and version = ? and ${LIVE} returning version`, [JSON.stringify(doc), ttlSec, this.k(key), expectedVersion]);
    if (r.rows.length) return { ok: true, version: Number(r.rows[0].version) };
    const cur = await this.getDoc(key);
    return cur ? { ok: false, reason: 'stale', version: cur.version } : { ok: false, reason: 'missing', version: 0 };
  }
  updateDoc<D>(key: string, fn: (doc: D) => D, ttlSec: number) { return casLoop<D>(this, key, fn, ttlSec); }
  async extend(key: string, ttlSec: number): Promise<boolean> {
    const r = await this.db.raw(`update ${T} set expires_at = now() + make_interval(secs => ?) where key = ? and ${LIVE} returning key`, [ttlSec, this.k(key)]);
    return r.rows.length === 1;
  }
  async delete(key: string): Promise<void> { await this.db.raw(`delete from ${T} where key = ?`, [this.k(key)]); }
  async setIfAbsent(key: string, value: string, ttlSec: number): Promise<boolean> {
    const r = await this.db.raw(
      `insert into ${T} (key, value, expires_at) values (?, ?, now() + make_interval(secs => ?))
       on conflict (key) do update set value = excluded.value, version = 1, expires_at = excluded.expires_at
       where ${T}.expires_at is not null and ${T}.expires_at <= now() returning key`, [this.k(key), value, ttlSec]);
    return r.rows.length === 1;
  }
  async get(key: string): Promise<string | null> {
    const r = await this.db.raw(`select value from ${T} where key = ? and ${LIVE}`, [this.k(key)]);
    return (r.rows[0]?.value as string | undefined) ?? null;
  }
  async set(key: string, value: string, ttlSec: number): Promise<void> {
    await this.db.raw(
      `insert into ${T} (key, value, expires_at) values (?, ?, now() + make_interval(secs => ?))
       on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at`, [this.k(key), value, ttlSec]);
  }
  async take(key: string): Promise<string | null> {
    const r = await this.db.raw(`delete from ${T} where key = ? and ${LIVE} returning value`, [this.k(key)]);
    return (r.rows[0]?.value as string | undefined) ?? null;
  }
  async hit(key: string, windowSec: number): Promise<number> {
    const r = await this.db.raw(
      `insert into ${T} (key, value, expires_at) values (?, '1', now() + make_interval(secs => ?))
       on conflict (key) do update set
         value = case when ${T}.expires_at <= now() then '1' else (${T}.value::bigint + 1)::text end,
         expires_at = case when ${T}.expires_at <= now() then excluded.expires_at else ${T}.expires_at end
       returning value`, [this.k(key), windowSec]);
    return Number(r.rows[0].value);
  }
  /**
   * One kv row per key holding `{holder: expiresAtMs}`, read and written under its row lock in one transaction,
   * with Postgres's clock (clock_timestamp) as the only clock: every worker process sees the same slots.
   */
  async acquireSlot(o: SlotRequest): Promise<SlotResult> {
    const key = this.k(o.key);
    return this.db.transaction(async (trx) => {
      await trx.raw(`insert into ${T} (key, value, expires_at) values (?, '{}', null) on conflict (key) do nothing`, [key]);
      const r = await trx.raw(`select value, (extract(epoch from clock_timestamp()) * 1000)::bigint as now from ${T} where key = ? for update`, [key]);
      const row = r.rows[0] as { value: string; now: string };
      const now = Number(row.now);
      let slots: Record<string, number> = {};
      try { slots = JSON.parse(row.value) as Record<string, number>; } catch { /* a value another op wrote: start empty */ }
      if (typeof slots !== 'object' || slots === null || Array.isArray(slots)) slots = {};
      const live = Object.fromEntries(Object.entries(slots).filter(([, exp]) => typeof exp === 'number' && exp > now));
      if (!(o.holder in live) && Object.keys(live).length >= o.limit) {
        return { ok: false as const, retryAfterMs: Math.max(1, Math.min(...Object.values(live)) - now) };
      }
      live[o.holder] = now + Math.max(1, Math.round(o.ttlMs));
      const last = Math.max(...Object.values(live));
      await trx.raw(`update ${T} set value = ?, expires_at = to_timestamp(? / 1000.0) where key = ?`, [JSON.stringify(live), last, key]);
      return { ok: true as const };
    });
  }
  async reserveTurn(key: string, intervalMs: number): Promise<number> {
    // µs on the database's clock; the row lock of the upsert orders concurrent bookers. A value another op wrote, or
    // a turn long past, counts as "free now".
    const us = Math.max(1, Math.round(intervalMs * 1000));
    const r = await this.db.raw(
      `with c as (select (extract(epoch from clock_timestamp()) * 1000000)::bigint as now)
       insert into ${T} as s (key, value, expires_at)
       select ?, (c.now + ?)::text, to_timestamp((c.now + ? + 1000000) / 1000000.0) from c
       on conflict (key) do update set
         value = (greatest(case when s.value ~ '^[0-9]{1,18}$' then s.value::bigint else 0 end, (select now from c)) + ?)::text,
         expires_at = to_timestamp((greatest(case when s.value ~ '^[0-9]{1,18}$' then s.value::bigint else 0 end, (select now from c)) + ? + 1000000) / 1000000.0)
       returning (s.value::bigint - ? - (select now from c)) as wait_us`,
      [this.k(key), us, us, us, us, us]);
    return Math.max(0, Number((r.rows[0] as { wait_us: string }).wait_us)) / 1000;
  }
  async releaseSlot(key: string, holder: string): Promise<void> {
    await this.db.raw(`update ${T} set value = (value::jsonb - ?::text)::text where key = ? and value like '{%'`, [holder, this.k(key)]);
  }
  async publish(channel: string, message: string): Promise<void> {
    await this.db.raw('select pg_notify(?, ?)', [this.channel(channel), message]);
  }
  private channel(c: string): string { return `sl_${(this.o.prefix ?? '') + c}`.replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 63); }
  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const ch = this.channel(channel);
    let set = this.handlers.get(ch);
    if (!set) {
      set = new Set();
      this.handlers.set(ch, set);
      // The first subscribe connects (and fails loudly at boot); later ones LISTEN on the live connection, or
      // are picked up by the reconnect, which LISTENs to every known channel.
      try {
        const c = this.listener ?? await this.connectOnce();
        if (c === this.listener) await c.query(`listen "${ch}"`);
      } catch (e) { this.handlers.delete(ch); throw e; }
    }
    set.add(onMessage);
    return async () => { set.delete(onMessage); };
  }
  onResubscribed(fn: () => void): () => void {
    this.resubscribed.add(fn);
    return () => { this.resubscribed.delete(fn); };
  }

  private connectOnce(): Promise<pg.Client> {
    return this.connecting ??= this.connectListener().finally(() => { this.connecting = undefined; });
  }

  /** A dedicated LISTEN connection (a pooled one would lose its LISTENs when returned). */
  private async connectListener(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.o.databaseUrl, application_name: this.subscriberName });
    c.on('notification', (n) => { for (const h of this.handlers.get(n.channel) ?? []) h(n.payload ?? ''); });
    c.on('error', (e) => this.listenerLost(c, e));
    c.on('end', () => this.listenerLost(c));
    try {
      await c.connect();
      for (const ch of this.handlers.keys()) await c.query(`listen "${ch}"`);
    } catch (e) {
      c.removeAllListeners('end');
      await c.end().catch(() => { /* never connected: nothing to close */ });
      throw e;
    }
    this.listener = c;
    return c;
  }

  /**
   * NOTIFY reaches only sessions that are LISTENing at commit time: whatever is sent while we reconnect is lost
   * for good. So reconnect with backoff, LISTEN again, and tell the caches to drop everything they hold.
   */
  private listenerLost(c: pg.Client, e?: Error): void {
    if (this.listener !== c || this.closed) return;
    this.listener = undefined;
    this.o.logger?.warn({ err: e?.message, subscriber: this.subscriberName }, 'postgres LISTEN connection lost; reconnecting');
    c.end().catch((err: Error) => this.o.logger?.debug({ err: err.message }, 'closing the lost LISTEN connection failed (already gone)'));
    const attempt = (n: number): void => {
      this.reconnectTimer = setTimeout(() => {
        if (this.closed) return;
        (this.listener ? Promise.resolve(this.listener) : this.connectOnce()).then(() => {
          metrics.subscriberReconnects.inc({ backend: 'postgres' });
          this.o.logger?.warn({ subscriber: this.subscriberName, attempts: n + 1 }, 'postgres LISTEN reconnected; notifications sent while it was down are lost, caches flushed');
          for (const fn of this.resubscribed) fn();
        }, (err: Error) => {
          this.o.logger?.warn({ err: err.message, attempt: n + 1 }, 'postgres LISTEN reconnect failed; retrying');
          attempt(n + 1);
        });
      }, backoffDelay(this.o.reconnect ?? DEFAULT_RECONNECT_BACKOFF, n));
    };
    attempt(0);
  }
  async ping(): Promise<boolean> {
    try { await this.db.raw('select 1'); return true; } catch { return false; }
  }
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweep);
    clearTimeout(this.reconnectTimer);
    const c = this.listener;
    this.listener = undefined;
    await c?.end().catch((e: Error) => this.o.logger?.debug({ err: e.message }, 'LISTEN connection already closed'));
  }
}
