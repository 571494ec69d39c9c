import { PluginError, isPluginError, toPluginError } from '../../core/sdk/index.js';
export const PROVIDER = 'builtin';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids are opaque to core; anything that isn't one of our UUIDs simply matches nothing (no 22P02 round trip). */
export function isUuid(s) {
    return UUID_RE.test(s);
}
/**
 * Postgres error → category. The SQLSTATE classes are stable, so constraint violations become caller errors
 * and only genuine outages become retryable.
 */
export function mapDbError(e) {
    if (isPluginError(e))
        return e;
    const code = e?.code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
        if (code === '23505')
            return new PluginError('conflict', 'record already exists', { provider: PROVIDER, cause: e });
        if (code === '23503')
            return new PluginError('not_found', 'referenced record not found', { provider: PROVIDER, cause: e });
        if (code.startsWith('23') || code.startsWith('22'))
            return new PluginError('invalid_request', `value rejected by the database (${code})`, { provider: PROVIDER, cause: e });
        if (code === '57014')
            return new PluginError('timeout', 'database statement timed out', { provider: PROVIDER, cause: e });
        if (code === '40001' || code === '40P01')
            return new PluginError('conflict', 'concurrent update, retry', { provider: PROVIDER, retryable: true, cause: e });
        if (code.startsWith('08') || code === '57P01' || code === '53300')
            return new PluginError('connectivity', `database unavailable (${code})`, { provider: PROVIDER, cause: e });
    }
    if (/Knex: Timeout acquiring a connection/.test(e?.message ?? '')) {
        return new PluginError('connectivity', 'database pool exhausted', { provider: PROVIDER, cause: e });
    }
    return toPluginError(e, PROVIDER);
}
/** Escapes LIKE metacharacters so a caller-supplied name is matched literally (Postgres' default escape is `\`). */
export function escapeLike(s) {
    return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
export function invalid(message) {
    return new PluginError('invalid_request', message, { provider: PROVIDER });
}
/** Clamps an optional page size to [1, max], defaulting to `dflt`. */
export function clampLimit(limit, o) {
    if (limit === undefined)
        return o.dflt;
    if (!Number.isInteger(limit) || limit < 1)
        throw invalid('limit must be a positive integer');
    return Math.min(limit, o.max);
}
//# sourceMappingURL=db.js.map