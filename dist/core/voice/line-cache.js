import { LINES, LINE_NAMES } from './lines.js';
/**
 * The greeting and scripted lines per tenant config, synthesised once and kept in memory so the greeting's
 * first frame goes out as the stream starts and the fallback line plays even with TTS down. Keyed by tenant
 * config hash + voice; a config change re-synthesises. Bounded: least recently used tenants are evicted.
 */
export class LineCache {
    o;
    byTenant = new Map();
    constructor(o = {}) {
        this.o = o;
    }
    entry(tenantId, key, greeting) {
        let e = this.byTenant.get(tenantId);
        if (!e || e.key !== key) {
            e = { key, greeting, audio: new Map(), loading: null };
        }
        // Re-insert: Map order is the LRU order.
        this.byTenant.delete(tenantId);
        this.byTenant.set(tenantId, e);
        const max = this.o.maxTenants ?? 500;
        while (this.byTenant.size > max)
            this.byTenant.delete(this.byTenant.keys().next().value);
        return e;
    }
    /** Synthesises whatever is missing (greeting first). Failed lines stay missing and are retried next time. */
    load(o) {
        const e = this.entry(o.tenantId, o.key, o.greeting);
        const texts = [o.greeting, ...LINE_NAMES.map((n) => LINES[n])].filter((t) => !e.audio.has(t));
        if (texts.length === 0)
            return Promise.resolve();
        if (e.loading)
            return e.loading;
        e.loading = (async () => {
            await Promise.all(texts.map(async (text) => {
                try {
                    e.audio.set(text, await o.synthesize(text));
                }
                catch (err) {
                    this.o.onError?.(err, text);
                }
            }));
            e.loading = null;
        })();
        return e.loading;
    }
    /** True when the greeting for this config is ready (no synthesis needed before the call can start). */
    ready(tenantId, key) {
        const e = this.byTenant.get(tenantId);
        return !!e && e.key === key && e.audio.has(e.greeting);
    }
    greeting(tenantId, key) {
        const e = this.byTenant.get(tenantId);
        return e && e.key === key ? e.audio.get(e.greeting) : undefined;
    }
    line(tenantId, key, name) {
        const e = this.byTenant.get(tenantId);
        return e && e.key === key ? e.audio.get(LINES[name]) : undefined;
    }
}
//# sourceMappingURL=line-cache.js.map