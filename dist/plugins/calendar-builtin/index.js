import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createBuiltinCalendar } from './calendar.js';
export default definePlugin({
    id: 'calendar-builtin',
    kind: 'calendar',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Bookable bays and advisors in the dealership\'s own ServiceLane database; the appointments table is the calendar.',
    settingsSchema: { type: 'object', additionalProperties: false, required: [] },
    credentialsSchema: null,
    // `builtin`: core already reads these rows, so it neither asks for busy time nor queues a sync.
    capabilities: { busy: true, write: true, perResource: true, builtin: true },
    async testConnection(ctx) {
        try {
            await ctx.tenantDb((trx) => trx('appointments').first('id'));
            return { ok: true };
        }
        catch (e) {
            ctx.logger.warn({ err: e.message }, 'calendar-builtin test connection failed');
            return { ok: false, detail: 'tenant database unreachable' };
        }
    },
    create: (ctx) => createBuiltinCalendar(ctx),
});
//# sourceMappingURL=index.js.map