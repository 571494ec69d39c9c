import { principalOf } from '../auth.js';
import { errorResponse, ok, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';

const BASE = '/tenants/:id/integrations/google';
const NOT_CONNECTED = errorResponse('ADM_ERR_GOOGLE_NOT_CONNECTED or ADM_ERR_GOOGLE_NEEDS_RECONNECT');

/**
 * Admin routes of the Google Calendar connection (docs/google.md). Tenant and platform admins alike; the path's
 * tenant is authorised before anything runs.
 */
export const googleRoutes: RouteDef[] = [
  tenantRoute({
    method: 'get', path: BASE, operationId: 'getGoogleConnection', tags: ['integrations'], action: 'google.read',
    summary: 'Google Calendar connection: not_connected, connected or needs_reconnect (Google refused the grant)',
    responses: { 200: ok('connection', ref('GoogleConnection')), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t }) => { res.json(await p.google.connect.view(t.id)); },
  }),

  tenantRoute({
    method: 'post', path: `${BASE}/authorize`, operationId: 'authorizeGoogle', tags: ['integrations'], action: 'google.authorize',
    summary: "Start connecting: Google's consent URL (offline access, calendar scopes, PKCE, a state valid 10 minutes, once)",
    responses: { 200: ok('consent URL', { type: 'object', required: ['url'], properties: { url: { type: 'string' }, expiresInSec: { type: 'integer' } } }), ...TENANT_RESPONSES, 503: errorResponse('ADM_ERR_OAUTH_NOT_CONFIGURED') },
    handler: async ({ req, res, deps: p, kit, tenant: t }) => {
      const out = await p.google.connect.authorize({ tenantId: t.id, actor: principalOf(req).sub });
      await kit.audit(req, { action: 'google.authorize', tenantId: t.id, target: 'google' });
      res.json(out);
    },
  }),

  // For a console that receives Google's redirect itself and hands it on with the admin's token: the state must
  // belong to this tenant and to this admin, or it is burnt and refused.
  tenantRoute<Record<string, never>, { state: string; code?: string; error?: string }>({
    method: 'post', path: `${BASE}/callback`, operationId: 'completeGoogle', tags: ['integrations'], action: 'google.connect',
    summary: "Finish connecting from a console that received Google's redirect: the state must be this tenant's and this admin's",
    body: {
      schema: {
        type: 'object', additionalProperties: false, required: ['state'],
        properties: { state: { type: 'string', minLength: 1, maxLength: 200 }, code: { type: 'string', minLength: 1, maxLength: 2048 }, error: { type: 'string', maxLength: 200 } },
      },
    },
    responses: {
      200: ok('connection', ref('GoogleConnection')), ...TENANT_RESPONSES,
      400: errorResponse('ADM_ERR_VALIDATION or ADM_ERR_OAUTH_DENIED'), 403: errorResponse('ADM_ERR_OAUTH_STATE (forged, expired, replayed, other tenant or admin) or ADM_ERR_FORBIDDEN'),
      502: errorResponse('ADM_ERR_OAUTH_EXCHANGE'),
    },
    handler: async ({ req, res, deps: p, kit, tenant: t, body }) => {
      await p.google.connect.complete({ ...body, expectTenantId: t.id, expectActor: principalOf(req).sub });
      await kit.audit(req, { action: 'google.connect', tenantId: t.id, target: 'google' });
      res.json(await p.google.connect.view(t.id));
    },
  }),

  tenantRoute({
    method: 'get', path: `${BASE}/calendars`, operationId: 'listGoogleCalendars', summary: 'Calendars the connected Google account can see', tags: ['integrations'], action: 'google.calendars',
    responses: { 200: ok('calendars', { type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, summary: { type: 'string' }, primary: { type: 'boolean' }, accessRole: { type: 'string' }, timeZone: { type: ['string', 'null'] } } } } } }), ...TENANT_RESPONSES, 409: NOT_CONNECTED, 502: errorResponse('ADM_ERR_GOOGLE_UPSTREAM') },
    handler: async ({ res, deps: p, tenant: t }) => { res.json({ items: await p.google.connect.listCalendars(t.id) }); },
  }),

  tenantRoute<Record<string, never>, { calendarId: string }>({
    method: 'put', path: BASE, operationId: 'chooseGoogleCalendar', tags: ['integrations'], action: 'google.calendar',
    summary: 'Choose the calendar: sets the calendar slot to calendar-google, opens the push channel, queues the first sync',
    body: { schema: { type: 'object', additionalProperties: false, required: ['calendarId'], properties: { calendarId: { type: 'string', minLength: 1, maxLength: 255 } } } },
    responses: {
      200: ok('connection', ref('GoogleConnection')), ...TENANT_RESPONSES,
      409: NOT_CONNECTED, 422: errorResponse('ADM_ERR_GOOGLE_CALENDAR: not a calendar the account can write to'),
      502: errorResponse('ADM_ERR_GOOGLE_UPSTREAM'),
    },
    handler: async ({ req, res, deps: p, kit, tenant: t, body: { calendarId } }) => {
      await p.google.connect.chooseCalendar({ tenantId: t.id, calendarId });
      await kit.audit(req, { action: 'google.calendar', tenantId: t.id, target: calendarId });
      res.json(await p.google.connect.view(t.id));
    },
  }),

  tenantRoute({
    method: 'delete', path: BASE, operationId: 'disconnectGoogle', tags: ['integrations'], action: 'google.disconnect',
    summary: 'Disconnect: stop the push channel, revoke the grant, delete the credential and the mirror, calendar slot back to calendar-builtin',
    responses: { 200: ok('disconnected', { type: 'object', properties: { status: { const: 'not_connected' }, revoked: { type: 'boolean' } } }), ...TENANT_RESPONSES, 409: errorResponse('ADM_ERR_GOOGLE_NOT_CONNECTED') },
    handler: async ({ req, res, deps: p, kit, tenant: t }) => {
      const out = await p.google.connect.disconnect(t.id);
      await kit.audit(req, { action: 'google.disconnect', tenantId: t.id, target: 'google', details: out });
      res.json({ status: 'not_connected', ...out });
    },
  }),
];
