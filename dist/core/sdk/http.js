/** The default time budget of `ctx.http`, per request (headers and body). */
export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
/**
 * Builds the `ctx.http` function core hands to a plugin: `fetch` with a per-request timeout (`timeoutMs`,
 * default {@link DEFAULT_HTTP_TIMEOUT_MS}), aborted by the instance's `signal`, by the call's own `signal`,
 * and identified with a user agent naming the plugin.
 *
 * @remarks An abort surfaces as fetch's own rejection (`TimeoutError` / `AbortError`), which
 * {@link toPluginError} classifies as `timeout`. Exported for the registry and the SDK's test context; plugins
 * use `ctx.http`, never this.
 *
 * @example
 * ```ts
 * const http = createPluginHttp({ pluginId: 'crm-acme', signal: controller.signal });
 * const res = await http('https://api.acme.test/people', { timeoutMs: 3000, signal: o.signal });
 * ```
 */
export function createPluginHttp(o) {
    const fetchImpl = o.fetch ?? fetch;
    const userAgent = `servicelane-plugin/${o.pluginId}`;
    return (url, init = {}) => {
        const { timeoutMs = o.defaultTimeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS, signal, headers, ...rest } = init;
        const signals = [o.signal, AbortSignal.timeout(timeoutMs)];
        if (signal)
            signals.push(signal);
        const h = new Headers(headers);
        if (!h.has('user-agent'))
            h.set('user-agent', userAgent);
        return fetchImpl(url, { ...rest, headers: h, signal: AbortSignal.any(signals) });
    };
}
//# sourceMappingURL=http.js.map