/**
 * `ctx.store`: rows of plugin_kv in the tenant's schema, namespaced by plugin id. Expired rows read as absent
 * and are deleted lazily on the next write of the same key.
 */
export function createTenantPluginStore(o) {
    const where = (key) => ({ plugin_id: o.pluginId, key });
    return {
        async get(key) {
            const row = await o.tenantDb((trx) => trx('plugin_kv').where(where(key)).first('value', 'expires_at'));
            if (!row)
                return undefined;
            if (row.expires_at && row.expires_at.getTime() <= o.clock.now())
                return undefined;
            return row.value;
        },
        async set(key, value, opts = {}) {
            const expiresAt = opts.ttlSec === undefined ? null : new Date(o.clock.now() + opts.ttlSec * 1000);
            await o.tenantDb((trx) => trx('plugin_kv')
                .insert({ ...where(key), value: JSON.stringify(value ?? null), expires_at: expiresAt })
                .onConflict(['plugin_id', 'key']).merge(['value', 'expires_at']));
        },
        async delete(key) {
            await o.tenantDb((trx) => trx('plugin_kv').where(where(key)).del());
        },
    };
}
//# sourceMappingURL=plugin-store.js.map