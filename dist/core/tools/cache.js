/**
 * A small in-process TTL map with a size cap (oldest insertion evicted first). Only for soft, re-checkable
 * facts: the tools cache caller-ID → candidate ids, which verification re-reads by id anyway.
 */
export class TtlCache {
    o;
    map = new Map();
    constructor(o) {
        this.o = o;
    }
    now() { return this.o.now?.() ?? Date.now(); }
    get(key) {
        const hit = this.map.get(key);
        if (!hit)
            return undefined;
        if (hit.expiresAt <= this.now()) {
            this.map.delete(key);
            return undefined;
        }
        return hit.value;
    }
    set(key, value) {
        if (this.o.ttlMs <= 0)
            return;
        this.map.delete(key);
        if (this.map.size >= this.o.maxEntries) {
            const oldest = this.map.keys().next();
            if (!oldest.done)
                this.map.delete(oldest.value);
        }
        this.map.set(key, { value, expiresAt: this.now() + this.o.ttlMs });
    }
    delete(key) { this.map.delete(key); }
    /** Drops every key starting with `prefix` (a tenant's entries on config change). */
    deletePrefix(prefix) {
        for (const k of this.map.keys())
            if (k.startsWith(prefix))
                this.map.delete(k);
    }
    get size() { return this.map.size; }
}
//# sourceMappingURL=cache.js.map