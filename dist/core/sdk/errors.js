const RETRYABLE = new Set(['rate_limit', 'connectivity', 'timeout', 'upstream']);
/**
 * The one error a plugin throws. Messages must not contain PII (names, phones, VINs).
 *
 * @example
 * ```ts
 * if (res.status === 404) throw new PluginError('not_found', 'person not found', { provider: 'twenty', status: 404 });
 * ```
 */
export class PluginError extends Error {
    /** What kind of failure this is; drives retry, breaker and fallback decisions in core. */
    category;
    /** Whether repeating the same call may succeed. Defaults from the category; override when you know better. */
    retryable;
    /** Vendor name, e.g. `twenty`, `google`. */
    provider;
    /** HTTP status when the failure came from an HTTP response. */
    status;
    /** The vendor's request id, for support tickets. */
    providerRequestId;
    constructor(category, message, o = {}) {
        super(message, { cause: o.cause });
        this.name = 'PluginError';
        this.category = category;
        this.retryable = o.retryable ?? RETRYABLE.has(category);
        this.provider = o.provider;
        this.status = o.status;
        this.providerRequestId = o.providerRequestId;
    }
}
/** True for a PluginError (also across duplicated module copies, which `instanceof` would miss). */
export function isPluginError(e) {
    return e instanceof PluginError || (e instanceof Error && e.name === 'PluginError' && 'category' in e);
}
/**
 * Maps an HTTP status to a category. 4xx is permanent except 408, 425, 429 and 499.
 *
 * @example
 * ```ts
 * if (!res.ok) throw fromHttpStatus(res.status, 'twenty people lookup failed', { provider: 'twenty' });
 * ```
 */
export function fromHttpStatus(status, message, o = {}) {
    let category;
    if (status === 401)
        category = 'auth';
    else if (status === 403)
        category = 'forbidden';
    else if (status === 404)
        category = 'not_found';
    else if (status === 409)
        category = 'conflict';
    else if (status === 429)
        category = 'rate_limit';
    else if (status === 408 || status === 499 || status === 504)
        category = 'timeout';
    else if (status === 425)
        category = 'upstream';
    else if (status >= 400 && status < 500)
        category = 'invalid_request';
    else if (status >= 500)
        category = 'upstream';
    else
        category = 'unknown';
    return new PluginError(category, message, { ...o, status });
}
/**
 * Classifies anything thrown by fetch or a vendor SDK that isn't already a PluginError: aborts become
 * `timeout`, socket errors `connectivity`, objects with a numeric `status`/`statusCode` go through fromHttpStatus.
 */
export function toPluginError(e, provider) {
    if (isPluginError(e))
        return e;
    const err = e;
    const status = typeof err?.status === 'number' ? err.status : typeof err?.statusCode === 'number' ? err.statusCode : undefined;
    if (status !== undefined)
        return fromHttpStatus(status, `${provider} request failed (${status})`, { provider, cause: e });
    if (err?.name === 'AbortError' || err?.name === 'TimeoutError')
        return new PluginError('timeout', `${provider} request timed out`, { provider, cause: e });
    if (err?.code && /^(ECONN|ENOTFOUND|EAI_|EPIPE|ETIMEDOUT|UND_ERR)/.test(err.code))
        return new PluginError('connectivity', `${provider} unreachable (${err.code})`, { provider, cause: e });
    if (err?.name === 'TypeError' && /fetch failed/.test(err.message ?? ''))
        return new PluginError('connectivity', `${provider} unreachable`, { provider, cause: e });
    return new PluginError('unknown', `${provider} call failed`, { provider, cause: e });
}
//# sourceMappingURL=errors.js.map