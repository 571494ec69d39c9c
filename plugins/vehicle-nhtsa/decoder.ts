import { PluginError, fromHttpStatus, isValidVin, toPluginError, type CallOptions, type PluginContext, type VehicleDecoder, type VehicleInfo } from '../../core/sdk/index.js';
import { PROVIDER, toVehicleInfo } from './mappers.js';

export interface NhtsaSettings {
  /** vPIC root, e.g. `https://vpic.nhtsa.dot.gov` (or `…/api/vehicles`); default: env NHTSA_BASE_URL, then the public service. */
  baseUrl?: string;
  /** Per-request timeout in ms (default 3000: the decode sits on the live call path, reference §2.6). */
  timeoutMs?: number;
  /** How long a decode is cached, in seconds (default 30 days; decodes change only with NHTSA data updates). */
  cacheTtlSec?: number;
}

export const DEFAULT_BASE_URL = 'https://vpic.nhtsa.dot.gov';
const DEFAULT_TTL_SEC = 30 * 24 * 3600;
/** "No data" answers are cached too, but briefly: NHTSA adds manufacturers' submissions over time. */
const NEGATIVE_TTL_SEC = 24 * 3600;

/** Endpoint root ending in `/api/vehicles`, whichever form the setting (the platform's NHTSA_BASE_URL by default) gives. */
export function vpicRoot(base: string): string {
  const b = base.trim().replace(/\/+$/, '');
  return /\/api\/vehicles$/i.test(b) ? b : `${b}/api/vehicles`;
}

interface CacheEntry { info: VehicleInfo | null }

export function createNhtsaDecoder(ctx: PluginContext, settings: NhtsaSettings): VehicleDecoder {
  const root = vpicRoot(settings.baseUrl ?? DEFAULT_BASE_URL);
  const timeoutMs = settings.timeoutMs ?? 3000;
  const ttlSec = settings.cacheTtlSec ?? DEFAULT_TTL_SEC;
  // One in-flight request per VIN: the model may ask twice in one turn, and parallel calls shouldn't both go out.
  const inflight = new Map<string, Promise<VehicleInfo | null>>();

  async function fetchDecode(vin: string, signal: AbortSignal | undefined): Promise<VehicleInfo | null> {
    let res: Response;
    let body: unknown;
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
      } catch {
        throw new PluginError('upstream', 'vPIC returned a non-JSON body', { provider: PROVIDER, status: res.status });
      }
    } catch (e) {
      const err = toPluginError(e, PROVIDER);
      ctx.logger.warn({ category: err.category, status: err.status }, 'vPIC decode failed');
      throw err;
    }
    return toVehicleInfo(vin, body);
  }

  async function decode(vin: string, signal: AbortSignal | undefined): Promise<VehicleInfo | null> {
    const key = `vin:${vin}`;
    try {
      const hit = await ctx.store.get<CacheEntry>(key);
      if (hit) return hit.info;
    } catch (e) {
      ctx.logger.warn({ err: (e as Error).message }, 'vin cache unreadable; decoding without it');
    }
    const info = await fetchDecode(vin, signal);
    try {
      await ctx.store.set(key, { info } satisfies CacheEntry, { ttlSec: info ? ttlSec : Math.min(ttlSec, NEGATIVE_TTL_SEC) });
    } catch (e) {
      ctx.logger.warn({ err: (e as Error).message }, 'vin cache write failed; the next decode will call vPIC again');
    }
    return info;
  }

  return {
    async decodeVin(o: CallOptions & { vin: string }): Promise<VehicleInfo | null> {
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
