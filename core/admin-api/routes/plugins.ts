import { ServiceLaneError } from '../../errors.js';
import { PLUGIN_KINDS } from '../../sdk/define-plugin.js';
import { SLOT_NAMES, type SlotName } from '../../tenancy/config.js';
import { ok, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';

/** Plugin slot status and the slot plugin's testConnection(). */
export const pluginRoutes: RouteDef[] = [
  tenantRoute({
    method: 'get', path: '/tenants/:id/plugins', operationId: 'getPluginStatus', tags: ['plugins'], action: 'plugin.status',
    summary: 'Status of each plugin slot (ok, disabled with the reason, unconfigured)',
    responses: { 200: ok('slots', { type: 'object', properties: { slots: { type: 'array', items: ref('SlotStatus') } } }), ...TENANT_RESPONSES },
    handler: async ({ res, kit, tenant: t }) => { res.json({ slots: await kit.slotStatus(t.id) }); },
  }),

  tenantRoute({
    method: 'post', path: '/tenants/:id/plugins/:slot/test', operationId: 'testPlugin', summary: "Run the slot plugin's testConnection()", tags: ['plugins'], action: 'plugin.test',
    params: {
      slot: {
        schema: { type: 'string', enum: [...PLUGIN_KINDS] },
        check: (slot) => {
          if (!SLOT_NAMES.includes(slot as SlotName)) {
            throw new ServiceLaneError('ADM_ERR_VALIDATION', 'unknown plugin slot', { errors: [{ path: '/slot', message: `must be one of ${SLOT_NAMES.join(', ')}` }] });
          }
        },
      },
    },
    responses: { 200: ok('result', { type: 'object', properties: { slot: { type: 'string' }, result: {} } }), ...TENANT_RESPONSES },
    handler: async ({ req, res, deps: p, kit, tenant: t, param }) => {
      const slot = param('slot') as SlotName;
      const result = await p.registry.testConnection(t.id, slot);
      await kit.audit(req, { action: 'plugin.test', tenantId: t.id, target: slot });
      res.json({ slot, result });
    },
  }),
];
