import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { builtinCrmData, createBuiltinCrm } from './connector.js';

/** crm-builtin has no options: its data lives in the tenant's own tables. */
export type BuiltinCrmSettings = Record<string, never>;

export default definePlugin<'crm', BuiltinCrmSettings>({
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
      await builtinCrmData(ctx).ping();
      return { ok: true };
    } catch (e) {
      ctx.logger.warn({ err: (e as Error).message }, 'crm-builtin test connection failed');
      return { ok: false, detail: 'tenant database unreachable' };
    }
  },
  create: (ctx) => createBuiltinCrm(ctx),
});
