import { isPluginError } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
import { metrics } from '../observability/metrics.js';
import { callerCancelled } from './types.js';
/**
 * The `category` label a failure is counted under: the PluginError category, `breaker_open` for a
 * short-circuited call, the lower-cased core code for other core errors, `unknown` otherwise.
 */
export function errorCategoryLabel(e) {
    if (isPluginError(e))
        return e.category;
    if (isServiceLaneError(e))
        return e.code === 'PLG_ERR_BREAKER_OPEN' ? 'breaker_open' : e.code.toLowerCase();
    return 'unknown';
}
/**
 * Records `sl_plugin_call_seconds{plugin,method,outcome}` for every call (outcome ok | error | cancelled)
 * and `sl_plugin_errors_total{plugin,category}` for failures. A caller abort is `cancelled`, not an error.
 */
export function withMetrics(fn, opts) {
    return async (o) => {
        const started = performance.now();
        try {
            const r = await fn(o);
            metrics.pluginCalls.observe({ plugin: opts.plugin, method: opts.method, outcome: 'ok' }, (performance.now() - started) / 1000);
            return r;
        }
        catch (e) {
            const cancelled = callerCancelled(o);
            metrics.pluginCalls.observe({ plugin: opts.plugin, method: opts.method, outcome: cancelled ? 'cancelled' : 'error' }, (performance.now() - started) / 1000);
            if (!cancelled)
                metrics.pluginErrors.inc({ plugin: opts.plugin, category: errorCategoryLabel(e) });
            throw e;
        }
    };
}
//# sourceMappingURL=metrics.js.map