import { Redis } from 'ioredis';
import { casLoop } from './store.js';
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
/**
 * Redis adapter. Scripts are called on their own, never inside multi(), where NOSCRIPT would not recover.
 * `enableOfflineQueue: false` makes commands fail fast when Redis is gone, so a live call keeps going from
 * its in-process state instead of hanging.
 */
export class RedisStateStore {
    kind = 'redis';
    redis;
    prefix;
    subscriber;
    handlers = new Map();
    constructor(o) {
        this.prefix = o.prefix ?? 'sl:';
        this.redis = new Redis(o.url, { keyPrefix: this.prefix, enableOfflineQueue: false, commandTimeout: o.commandTimeoutMs ?? 1000, maxRetriesPerRequest: 1, lazyConnect: false });
        this.redis.on('error', () => { });
        this.redis.defineCommand('docCas', { numberOfKeys: 1, lua: CAS });
        this.redis.defineCommand('docCreate', { numberOfKeys: 1, lua: CREATE });
    }
    /** Waits for the first connection (offline queue is off, so early commands would fail). */
    async ready() {
        if (this.redis.status === 'ready')
            return;
        await new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('redis not ready after 5s')), 5000);
            this.redis.once('ready', () => { clearTimeout(t); resolve(); });
        });
    }
    async createDoc(key, doc, ttlSec) {
        return (await this.redis.docCreate(key, JSON.stringify(doc), String(ttlSec))) === 1;
    }
    async getDoc(key) {
        const [v, doc] = await this.redis.hmget(key, 'v', 'doc');
        if (v == null || doc == null)
            return null;
        return { doc: JSON.parse(doc), version: Number(v) };
    }
    async casDoc(key, expectedVersion, doc, ttlSec) {
        const [code, version] = await this.redis.docCas(key, String(expectedVersion), JSON.stringify(doc), String(ttlSec));
        if (code === 1)
            return { ok: true, version };
        return { ok: false, reason: code === 0 ? 'stale' : 'missing', version };
    }
    updateDoc(key, fn, ttlSec) { return casLoop(this, key, fn, ttlSec); }
    async extend(key, ttlSec) { return (await this.redis.expire(key, ttlSec)) === 1; }
    async delete(key) { await this.redis.del(key); }
    async setIfAbsent(key, value, ttlSec) {
        return (await this.redis.set(key, value, 'EX', ttlSec, 'NX')) === 'OK';
    }
    async get(key) { return this.redis.get(key); }
    async set(key, value, ttlSec) { await this.redis.set(key, value, 'EX', ttlSec); }
    async take(key) { return this.redis.getdel(key); }
    async hit(key, windowSec) {
        // pipeline (not multi): plain commands, and INCR+EXPIRE NX keeps the first window's expiry.
        const res = await this.redis.pipeline().incr(key).expire(key, windowSec, 'NX').exec();
        return Number(res?.[0]?.[1] ?? 0);
    }
    async publish(channel, message) { await this.redis.publish(this.prefix + channel, message); }
    async subscribe(channel, onMessage) {
        const full = this.prefix + channel;
        if (!this.subscriber) {
            this.subscriber = this.redis.duplicate({ keyPrefix: '', enableOfflineQueue: true });
            this.subscriber.on('error', () => { });
            this.subscriber.on('message', (ch, msg) => { for (const h of this.handlers.get(ch) ?? [])
                h(msg); });
        }
        let set = this.handlers.get(full);
        if (!set) {
            set = new Set();
            this.handlers.set(full, set);
            await this.subscriber.subscribe(full);
        }
        set.add(onMessage);
        return async () => { set.delete(onMessage); };
    }
    async ping() {
        try {
            return (await this.redis.ping()) === 'PONG';
        }
        catch {
            return false;
        }
    }
    async close() {
        this.subscriber?.disconnect();
        this.redis.disconnect();
    }
}
//# sourceMappingURL=redis-store.js.map