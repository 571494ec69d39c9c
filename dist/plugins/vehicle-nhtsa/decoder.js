import { PluginError, fromHttpStatus, isValidVin, toPluginError } from '../../core/sdk/index.js';
import { PROVIDER, toVehicleInfo } from './mappers.js';
export const DEFAULT_BASE_URL = 'https://vpic.nhtsa.dot.gov';
const DEFAULT_TTL_SEC = 30 * 24 * 3600;
/** "No data" answers are cached too, but briefly: NHTSA adds manufacturers' submissions over time. */
const NEGATIVE_TTL_SEC = 24 * 3600;
/** Endpoint root ending in `/api/vehicles`, whichever form the setting or env gives. */
export function vpicRoot(base) {
    const b = base.trim().replace(/\/+$/, '');
    return /\/api\/vehicles$/i.test(b) ? b : `${b}/api/vehicles`;
}
export function createNhtsaDecoder(ctx, settings) {
    const root = vpicRoot(settings.baseUrl ?? ctx.env.NHTSA_BASE_URL ?? DEFAULT_BASE_URL);
    const timeoutMs = settings.timeoutMs ?? 3000;
    const ttlSec = settings.cacheTtlSec ?? DEFAULT_TTL_SEC;
    // One in-flight request per VIN: the model may ask twice in one turn, and parallel calls shouldn't both go out.
    const inflight = new Map();
    async function fetchDecode(vin, signal) {
        let res;
        let body;
        try {
            res = await ctx.http(`${root}/DecodeVinValues/${encodeURIComponent(vin)}?format=json`, { method: 'GET', headers: { accept: 'application/json' }, signal, timeoutMs });
            if (!res.ok) {
                // Throttling and outages arrive as non-200 (HTML bodies); decode problems never do. Drain the body so
                // the keep-alive socket goes back to the pool instead of waiting for GC.
                await res.body?.cancel().catch(() => undefined);
                throw fromHttpStatus(res.status, `vPIC decode failed (${res.status})`, { provider: PROVIDER });
            }
            const textBody = await res.text();
            try {
                body = JSON.parse(textBody);
            }
            catch {
                throw new PluginError('upstream', 'vPIC returned a non-JSON body', { provider: PROVIDER, status: res.status });
            }
        }
        catch (e) {
            const err = toPluginError(e, PROVIDER);
            ctx.logger.warn({ category: err.category, status: err.status }, 'vPIC decode failed');
            throw err;
        }
        return toVehicleInfo(vin, body);
    }
    async function decode(vin, signal) {
        const key = `vin:${vin}`;
        try {
            const hit = await ctx.store.get(key);
            if (hit)
                return hit.info;
        }
        catch (e) {
            ctx.logger.warn({ err: e.message }, 'vin cache unreadable; decoding without it');
        }
        const info = await fetchDecode(vin, signal);
        try {
            await ctx.store.set(key, { info }, { ttlSec: info ? ttlSec : Math.min(ttlSec, NEGATIVE_TTL_SEC) });
        }
        catch (e) {
            ctx.logger.warn({ err: e.message }, 'vin cache write failed; the next decode will call vPIC again');
        }
        return info;
    }
    return {
        async decodeVin(o) {
            const check = isValidVin(o.vin);
            if (!check.ok) {
                throw new PluginError('invalid_request', check.reason === 'check_digit' ? 'VIN check digit does not match; re-read the VIN' : `VIN is not valid (${check.reason})`, { provider: PROVIDER });
            }
            const vin = check.vin;
            let p = inflight.get(vin);
            if (!p) {
                p = decode(vin, o.signal).finally(() => inflight.delete(vin));
                inflight.set(vin, p);
            }
            return p;
        },
    };
}
//# sourceMappingURL=decoder.js.map