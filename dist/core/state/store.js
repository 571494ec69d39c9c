/** Shared retry loop for updateDoc so both adapters get identical semantics. */
export async function casLoop(store, key, fn, ttlSec) {
    for (let attempt = 0; attempt < 20; attempt++) {
        const cur = await store.getDoc(key);
        if (!cur)
            return null;
        const next = fn(cur.doc);
        const r = await store.casDoc(key, cur.version, next, ttlSec);
        if (r.ok)
            return { doc: next, version: r.version };
        if (r.reason === 'missing')
            return null;
    }
    throw new Error(`state update on ${key} lost 20 races in a row`);
}
//# sourceMappingURL=store.js.map