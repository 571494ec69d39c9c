import { ServiceLaneError } from '../../errors.js';
import { E164_PATTERN } from '../../sdk/phone.js';
import { toE164 } from '../../tenancy/tenants.js';
import { errorResponse, guardedRoute, ok, ref, TENANT_RESPONSES, type PathParam, type RouteDef } from '../route.js';

const e164: PathParam = { schema: { type: 'string', pattern: E164_PATTERN }, description: 'E.164 number; send `+` as-is or as %2B.' };

/**
 * Phone numbers of a dealership (platform admins only). Authorised on the path's id before the lookup; the
 * number is checked (TEN_ERR_NUMBER_INVALID) before the tenant is loaded.
 */
export const numberRoutes: RouteDef[] = [
  guardedRoute({
    method: 'put', path: '/tenants/:id/numbers/:e164', operationId: 'attachNumber', tags: ['numbers'], action: 'number.attach', tenantFromPath: true,
    summary: 'Attach a phone number and point its Twilio webhooks here when the account owns it (platform_admin)', params: { e164 },
    responses: {
      201: ok('attached', ref('NumberAttachment')), 200: ok('already attached to this tenant', ref('NumberAttachment')),
      ...TENANT_RESPONSES, 400: errorResponse('TEN_ERR_NUMBER_INVALID'), 409: errorResponse('TEN_ERR_NUMBER_TAKEN (another tenant) or TEN_ERR_OFFBOARDED'),
    },
    handler: async ({ req, res, deps: p, kit, param }) => {
      const number = toE164(param('e164'));
      const t = await p.tenants.getActive(param('id'));
      const { created } = await p.tenants.attachNumber(t.id, number);
      const wh = await p.telephony.configureNumber({ tenantId: t.id, e164: number });
      await kit.audit(req, { action: 'number.attach', tenantId: t.id, target: number, details: { created, webhooksConfigured: wh.configured } });
      res.status(created ? 201 : 200).json({ e164: number, tenantId: t.id, webhooksConfigured: wh.configured, reason: wh.reason ?? null });
    },
  }),

  guardedRoute({
    method: 'delete', path: '/tenants/:id/numbers/:e164', operationId: 'detachNumber', summary: 'Detach a phone number (platform_admin)', tags: ['numbers'],
    action: 'number.detach', tenantFromPath: true, params: { e164 },
    responses: { 200: ok('detached', { type: 'object', properties: { e164: { type: 'string' }, tenantId: { type: 'string' }, detached: { const: true } } }), ...TENANT_RESPONSES, 400: errorResponse('TEN_ERR_NUMBER_INVALID') },
    handler: async ({ req, res, deps: p, kit, param }) => {
      const number = toE164(param('e164'));
      const t = await p.tenants.get(param('id'));
      const detached = await p.tenants.detachNumber(t.id, number);
      if (!detached) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'number is not attached to this tenant');
      await kit.audit(req, { action: 'number.detach', tenantId: t.id, target: number });
      res.json({ e164: number, tenantId: t.id, detached: true });
    },
  }),
];
