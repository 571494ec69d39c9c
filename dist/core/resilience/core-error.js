import { isPluginError } from '../sdk/index.js';
import { isServiceLaneError, ServiceLaneError } from '../errors.js';
/**
 * Turns whatever a wrapped plugin call threw into a coded core error for an HTTP answer or a job record:
 * core errors pass through, a `timeout` PluginError becomes PLG_ERR_TIMEOUT, any other failure
 * PLG_ERR_CALL_FAILED with `{ plugin, category, retryable, status? }` (no vendor message: it may hold PII).
 */
export function toCoreError(e, o) {
    if (isServiceLaneError(e))
        return e;
    const where = o.method ? `${o.pluginId}.${o.method}` : o.pluginId;
    if (isPluginError(e)) {
        const details = { plugin: o.pluginId, category: e.category, retryable: e.retryable, ...(e.status === undefined ? {} : { status: e.status }) };
        if (e.category === 'timeout')
            return new ServiceLaneError('PLG_ERR_TIMEOUT', `${where} timed out`, details, { cause: e });
        return new ServiceLaneError('PLG_ERR_CALL_FAILED', `${where} failed (${e.category})`, details, { cause: e });
    }
    return new ServiceLaneError('PLG_ERR_CALL_FAILED', `${where} failed`, { plugin: o.pluginId, category: 'unknown', retryable: false }, { cause: e });
}
//# sourceMappingURL=core-error.js.map