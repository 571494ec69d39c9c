import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createBuiltinCrm } from './connector.js';
export default definePlugin({
    id: 'crm-builtin',
    kind: 'crm',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Customers, vehicles, service history and call logs in the dealership\'s own ServiceLane database.',
    settingsSchema: { type: 'object', additionalProperties: false, required: [] },
    credentialsSchema: null,
    capabilities: { vehicles: true, serviceHistory: true, interactions: true, createCustomers: true },
    async testConnection(ctx) {
        try {
            await ctx.tenantDb((trx) => trx('customers').first('id'));
            return { ok: true };
        }
        catch (e) {
            ctx.logger.warn({ err: e.message }, 'crm-builtin test connection failed');
            return { ok: false, detail: 'tenant database unreachable' };
        }
    },
    create: (ctx) => createBuiltinCrm(ctx),
});
//# sourceMappingURL=index.js.map