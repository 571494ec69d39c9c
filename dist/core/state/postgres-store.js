import pg from 'pg';
import { casLoop } from './store.js';
const T = 'platform.kv';
const LIVE = '(expires_at is null or expires_at > now())';
/**
 * Postgres adapter for REDIS_URL-less installs: an unlogged table (soft state, no WAL cost) plus
 * LISTEN/NOTIFY for pub/sub. Expired rows are treated as absent and swept periodically.
 */
export class PostgresStateStore {
    db;
    o;
    kind = 'postgres';
    listener;
    handlers = new Map();
    sweep;
    constructor(db, o) {
        this.db = db;
        this.o = o;
        this.sweep = setInterval(() => { void this.db.raw(`delete from ${T} where expires_at < now() - interval '1 minute'`).catch(() => { }); }, 60_000);
        this.sweep.unref();
    }
    k(key) { return (this.o.prefix ?? '') + key; }
    async createDoc(key, doc, ttlSec) {
        const r = await this.db.raw(`insert into ${T} (key, value, version, expires_at) values (?, ?, 1, now() + make_interval(secs => ?))
       on conflict (key) do update set value = excluded.value, version = 1, expires_at = excluded.expires_at
       where ${T}.expires_at is not null and ${T}.expires_at <= now()
       returning version`, [this.k(key), JSON.stringify(doc), ttlSec]);
        return r.rows.length === 1;
    }
    async getDoc(key) {
        const r = await this.db.raw(`select value, version from ${T} where key = ? and ${LIVE}`, [this.k(key)]);
        const row = r.rows[0];
        return row ? { doc: JSON.parse(row.value), version: Number(row.version) } : null;
    }
    async casDoc(key, expectedVersion, doc, ttlSec) {
        const r = await this.db.raw(`update ${T} set value = ?, version = version + 1, expires_at = now() + make_interval(secs => ?)
       where key = ? and version = ? and ${LIVE} returning version`, [JSON.stringify(doc), ttlSec, this.k(key), expectedVersion]);
        if (r.rows.length)
            return { ok: true, version: Number(r.rows[0].version) };
        const cur = await this.getDoc(key);
        return cur ? { ok: false, reason: 'stale', version: cur.version } : { ok: false, reason: 'missing', version: 0 };
    }
    updateDoc(key, fn, ttlSec) { return casLoop(this, key, fn, ttlSec); }
    async extend(key, ttlSec) {
        const r = await this.db.raw(`update ${T} set expires_at = now() + make_interval(secs => ?) where key = ? and ${LIVE} returning key`, [ttlSec, this.k(key)]);
        return r.rows.length === 1;
    }
    async delete(key) { await this.db.raw(`delete from ${T} where key = ?`, [this.k(key)]); }
    async setIfAbsent(key, value, ttlSec) {
        const r = await this.db.raw(`insert into ${T} (key, value, expires_at) values (?, ?, now() + make_interval(secs => ?))
       on conflict (key) do update set value = excluded.value, version = 1, expires_at = excluded.expires_at
       where ${T}.expires_at is not null and ${T}.expires_at <= now() returning key`, [this.k(key), value, ttlSec]);
        return r.rows.length === 1;
    }
    async get(key) {
        const r = await this.db.raw(`select value from ${T} where key = ? and ${LIVE}`, [this.k(key)]);
        return r.rows[0]?.value ?? null;
    }
    async set(key, value, ttlSec) {
        await this.db.raw(`insert into ${T} (key, value, expires_at) values (?, ?, now() + make_interval(secs => ?))
       on conflict (key) do update set value = excluded.value, expires_at = excluded.expires_at`, [this.k(key), value, ttlSec]);
    }
    async take(key) {
        const r = await this.db.raw(`delete from ${T} where key = ? and ${LIVE} returning value`, [this.k(key)]);
        return r.rows[0]?.value ?? null;
    }
    async hit(key, windowSec) {
        const r = await this.db.raw(`insert into ${T} (key, value, expires_at) values (?, '1', now() + make_interval(secs => ?))
       on conflict (key) do update set
         value = case when ${T}.expires_at <= now() then '1' else (${T}.value::bigint + 1)::text end,
         expires_at = case when ${T}.expires_at <= now() then excluded.expires_at else ${T}.expires_at end
       returning value`, [this.k(key), windowSec]);
        return Number(r.rows[0].value);
    }
    async publish(channel, message) {
        await this.db.raw('select pg_notify(?, ?)', [this.channel(channel), message]);
    }
    channel(c) { return `sl_${(this.o.prefix ?? '') + c}`.replace(/[^a-zA-Z0-9_]/g, '_').slice(0, 63); }
    async subscribe(channel, onMessage) {
        const ch = this.channel(channel);
        if (!this.listener) {
            this.listener = new pg.Client({ connectionString: this.o.databaseUrl });
            this.listener.on('error', () => { });
            this.listener.on('notification', (n) => { for (const h of this.handlers.get(n.channel) ?? [])
                h(n.payload ?? ''); });
            await this.listener.connect();
        }
        let set = this.handlers.get(ch);
        if (!set) {
            set = new Set();
            this.handlers.set(ch, set);
            await this.listener.query(`listen "${ch}"`);
        }
        set.add(onMessage);
        return async () => { set.delete(onMessage); };
    }
    async ping() {
        try {
            await this.db.raw('select 1');
            return true;
        }
        catch {
            return false;
        }
    }
    async close() {
        clearInterval(this.sweep);
        await this.listener?.end().catch(() => { });
    }
}
//# sourceMappingURL=postgres-store.js.map