import type express from 'express';
import type { Action } from '../accounts/policy.js';
import type { GoogleConnect } from '../integrations/google/connect.js';
import type { Tenant } from '../tenancy/tenants.js';
import { principalOf } from './auth.js';
import { bodyValidator } from './validate.js';

/**
 * Admin routes of the Google Calendar connection, under /tenants/:id/integrations/google (docs/google.md).
 * Tenant and platform admins alike; `tenantFor` authorises the path's tenant before anything runs.
 */
export interface GoogleRouteDeps {
  google: GoogleConnect;
  tenantFor: (req: express.Request, action: Action) => Promise<Tenant>;
  audit: (req: express.Request, e: { action: string; tenantId?: string | null; target?: string; details?: unknown }) => Promise<void>;
}

const callbackBody = bodyValidator<{ state: string; code?: string; error?: string }>({
  type: 'object', additionalProperties: false, required: ['state'],
  properties: { state: { type: 'string', minLength: 1, maxLength: 200 }, code: { type: 'string', minLength: 1, maxLength: 2048 }, error: { type: 'string', maxLength: 200 } },
});
const chooseBody = bodyValidator<{ calendarId: string }>({
  type: 'object', additionalProperties: false, required: ['calendarId'],
  properties: { calendarId: { type: 'string', minLength: 1, maxLength: 255 } },
});

export const GOOGLE_BASE = '/tenants/:id/integrations/google';

export function mountGoogleRoutes(r: express.Router, d: GoogleRouteDeps): void {
  r.get(GOOGLE_BASE, async (req, res) => {
    const t = await d.tenantFor(req, 'google.read');
    res.json(await d.google.view(t.id));
  });

  r.post(`${GOOGLE_BASE}/authorize`, async (req, res) => {
    const t = await d.tenantFor(req, 'google.authorize');
    const out = await d.google.authorize({ tenantId: t.id, actor: principalOf(req).sub });
    await d.audit(req, { action: 'google.authorize', tenantId: t.id, target: 'google' });
    res.json(out);
  });

  // For a console that receives Google's redirect itself and hands it on with the admin's token: the state must
  // belong to this tenant and to this admin, or it is burnt and refused.
  r.post(`${GOOGLE_BASE}/callback`, async (req, res) => {
    const t = await d.tenantFor(req, 'google.connect');
    const body = callbackBody(req.body);
    await d.google.complete({ ...body, expectTenantId: t.id, expectActor: principalOf(req).sub });
    await d.audit(req, { action: 'google.connect', tenantId: t.id, target: 'google' });
    res.json(await d.google.view(t.id));
  });

  r.get(`${GOOGLE_BASE}/calendars`, async (req, res) => {
    const t = await d.tenantFor(req, 'google.calendars');
    res.json({ items: await d.google.listCalendars(t.id) });
  });

  r.put(GOOGLE_BASE, async (req, res) => {
    const t = await d.tenantFor(req, 'google.calendar');
    const { calendarId } = chooseBody(req.body);
    await d.google.chooseCalendar({ tenantId: t.id, calendarId });
    await d.audit(req, { action: 'google.calendar', tenantId: t.id, target: calendarId });
    res.json(await d.google.view(t.id));
  });

  r.delete(GOOGLE_BASE, async (req, res) => {
    const t = await d.tenantFor(req, 'google.disconnect');
    const out = await d.google.disconnect(t.id);
    await d.audit(req, { action: 'google.disconnect', tenantId: t.id, target: 'google', details: out });
    res.json({ status: 'not_connected', ...out });
  });
}
