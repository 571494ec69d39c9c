import { API_VERSION, definePlugin, isPluginError } from '../../core/sdk/index.js';
import { createNhtsaDecoder } from './decoder.js';
const settingsSchema = {
    type: 'object',
    additionalProperties: false,
    properties: {
        baseUrl: { type: 'string', pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', maxLength: 300, nullable: true },
        timeoutMs: { type: 'integer', minimum: 250, maximum: 30000, nullable: true },
        cacheTtlSec: { type: 'integer', minimum: 60, maximum: 365 * 24 * 3600, nullable: true },
    },
    required: [],
};
/** A VIN vPIC knows (the classic 49 CFR example), for the admin "test connection" button. */
const PROBE_VIN = '1HGCM82633A004352';
export default definePlugin({
    id: 'vehicle-nhtsa',
    kind: 'vehicle',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'VIN decoding through the free NHTSA vPIC API, cached per tenant.',
    settingsSchema,
    credentialsSchema: null,
    capabilities: { decodeVin: true, cached: true, regions: ['US', 'CA'] },
    async testConnection(ctx, { settings }) {
        try {
            // A fresh decoder with a throwaway store would still hit the cache; the probe must reach vPIC.
            const decoder = createNhtsaDecoder({ ...ctx, store: { get: async () => undefined, set: async () => { }, delete: async () => { } } }, settings);
            const info = await decoder.decodeVin({ vin: PROBE_VIN });
            return info ? { ok: true } : { ok: false, detail: 'vPIC answered but returned no data for a known VIN' };
        }
        catch (e) {
            return { ok: false, detail: `vPIC unreachable or failing (${isPluginError(e) ? e.category : 'unknown'})` };
        }
    },
    create: (ctx, { settings }) => createNhtsaDecoder(ctx, settings),
});
//# sourceMappingURL=index.js.map