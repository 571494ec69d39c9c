import fs from 'node:fs';
import express from 'express';
import helmet from 'helmet';
import type { AccountService } from '../accounts/accounts.js';
import { authorize, ROLES, type Action, type Role } from '../accounts/policy.js';
import { principalOf } from '../admin-api/auth.js';
import { allow, cookieValue, SESSION_COOKIE, sessionOf } from '../admin-api/guard.js';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { packagePath } from '../paths.js';
import type { PluginRegistry } from '../registry/registry.js';
import type { TenantService } from '../tenancy/tenants.js';
import type { Telephony } from '../telephony/telephony.js';
import type { LiveFeed } from '../voice/live-feed.js';
import type { VoiceService } from '../voice/voice-service.js';
import type { ConsoleBundle } from './assets.js';

export const CONSOLE_PATH = '/console';
const TENANT_ID_RE = /^[0-9a-z]{26}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CALL_SID_RE = /^(CA|WB)[0-9a-f]{32}$/;
/** SSE comment line every 20 s, so proxies don't close an idle live view. */
const SSE_KEEPALIVE_MS = 20_000;

export interface ConsoleDeps {
  cfg: AppConfig;
  logger: Logger;
  accounts: AccountService;
  tenants: TenantService;
  registry: PluginRegistry;
  telephony: Telephony;
  voice: VoiceService;
  live: LiveFeed;
  bundle: () => Promise<ConsoleBundle>;
}

const str = (v: unknown) => typeof v === 'string' ? v : '';

/**
 * The web console: static assets (hashed names cached forever, index.html never), and `/console/api`, the
 * session-only routes (sign-in, invitations, users, audit, live feed, call control, browser test call).
 * Everything else the pages show comes from the admin API (`/admin/v1`) with the same session cookie, so the
 * console and automation share one route table and one policy (core/accounts/policy.ts).
 */
export function createConsoleRouter(d: ConsoleDeps): express.Router {
  const r = express.Router();
  const secure = d.cfg.publicBaseUrl.startsWith('https:');
  r.use(helmet({ contentSecurityPolicy: { directives: { 'connect-src': ["'self'"], 'media-src': ["'self'"] } } }));

  // ---- static ------------------------------------------------------------------------------------
  const sendIndex = async (_req: express.Request, res: express.Response) => {
    const b = await d.bundle();
    res.set('Cache-Control', 'no-cache').type('html').send(b.index);
  };
  r.get('/', sendIndex);
  r.get('/assets/:name', async (req, res) => {
    const a = (await d.bundle()).assets.get(str(req.params.name));
    if (!a) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such asset');
    res.set('Cache-Control', 'public, max-age=31536000, immutable').type(a.type).send(a.body);
  });

  // ---- api ---------------------------------------------------------------------------------------
  const api = express.Router();
  r.use('/api', api);
  api.use(express.json({ limit: '100kb' }));
  api.use((_req, res, next) => { res.set('Cache-Control', 'no-store'); next(); });
  const audit = (req: express.Request, e: { action: string; tenantId?: string | null; target?: string; details?: unknown }) => {
    const pr = principalOf(req);
    return d.tenants.audit({ actor: pr.sub, role: pr.role, tenantId: e.tenantId ?? null, action: e.action, target: e.target, ip: req.ip, details: e.details });
  };
  const guard = async (req: express.Request, action: Action, tenantId: string | null) => {
    await sessionOf(req, d.accounts);
    await allow({
      principal: principalOf(req), action, tenantId,
      onDeny: (reason) => audit(req, { action: 'forbidden', tenantId: tenantId && TENANT_ID_RE.test(tenantId) ? tenantId : null, target: `${req.method} ${req.originalUrl}`.slice(0, 500), details: { attempted: action, reason } }),
    });
  };
  const setCookie = (res: express.Response, value: string, maxAgeMs: number) => {
    res.cookie(SESSION_COOKIE, value, { httpOnly: true, sameSite: 'strict', secure, path: '/', maxAge: maxAgeMs });
  };
  /** Sign-in and invitation bodies must be JSON: a cross-site HTML form can't send that without a CORS preflight. */
  const requireJson = (req: express.Request) => {
    if (!req.is('application/json')) throw new ServiceLaneError('ACC_ERR_CSRF', 'this request must be JSON');
  };

  api.post('/session', async (req, res) => {
    requireJson(req);
    const { sessionId, session } = await d.accounts.login({ email: req.body?.email, password: req.body?.password, ip: req.ip ?? 'unknown' });
    setCookie(res, sessionId, 12 * 3600_000);
    await d.tenants.audit({ actor: session.email, role: session.principal.role, tenantId: session.principal.tenant, action: 'session.login', ip: req.ip });
    res.json({ user: { email: session.email, role: session.principal.role, tenantId: session.principal.tenant }, csrf: session.csrf });
  });
  api.get('/session', async (req, res) => {
    const s = await sessionOf(req, d.accounts);
    res.json({ user: { email: s.email, role: s.principal.role, tenantId: s.principal.tenant }, csrf: s.csrf });
  });
  api.delete('/session', async (req, res) => {
    await sessionOf(req, d.accounts);
    await d.accounts.logout(cookieValue(req, SESSION_COOKIE) ?? '');
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.status(204).end();
  });

  api.get('/invitations/:token', async (req, res) => {
    res.json(await d.accounts.inspectInvite(str(req.params.token)));
  });
  api.post('/invitations/accept', async (req, res) => {
    requireJson(req);
    const u = await d.accounts.acceptInvite({ token: req.body?.token, password: req.body?.password });
    await d.tenants.audit({ actor: u.email, role: u.role, tenantId: u.tenantId, action: 'user.accept', target: u.id });
    res.status(201).json({ email: u.email, role: u.role, tenantId: u.tenantId });
  });

  /**
   * Invites a user. A platform admin's invitation link is printed on screen (there is no notify plugin above
   * tenants); a tenant admin's is sent through the tenant's notify plugin to the invitee's address.
   */
  api.post('/invitations', async (req, res) => {
    const role = str(req.body?.role) as Role;
    if (!ROLES.includes(role)) throw new ServiceLaneError('ADM_ERR_VALIDATION', 'request body failed validation', { errors: [{ path: '/role', message: `must be one of ${ROLES.join(', ')}` }] });
    const tenantId = role === 'platform_admin' ? null : str(req.body?.tenantId);
    await guard(req, role === 'platform_admin' ? 'user.invite_platform' : 'user.invite', tenantId);
    if (tenantId) await d.tenants.getActive(tenantId);
    const pr = principalOf(req);
    const inv = await d.accounts.invite({ by: pr, email: req.body?.email, role, tenantId });
    const link = `${d.cfg.publicBaseUrl.replace(/\/$/, '')}${CONSOLE_PATH}/#/accept/${inv.token}`;
    let delivered: 'printed' | 'notify' = 'printed';
    if (pr.role !== 'platform_admin' && tenantId) {
      const notify = await d.registry.get(tenantId, 'notify');
      await notify.send({ to: inv.email, subject: 'Your ServiceLane console invitation', text: `You were invited to the ServiceLane console. Set your password here (valid 72 hours, once): ${link}` });
      delivered = 'notify';
    }
    await audit(req, { action: 'user.invite', tenantId, target: inv.email, details: { role, delivered } });
    res.status(201).json({ email: inv.email, role, tenantId, expiresAt: inv.expiresAt, delivered, ...(delivered === 'printed' ? { link } : {}) });
  });

  api.get('/users', async (req, res) => {
    const tenantId = str(req.query.tenantId) || null;
    await guard(req, tenantId ? 'user.list' : 'tenant.list_all', tenantId);
    res.json({ items: await d.accounts.listUsers(tenantId) });
  });
  api.delete('/users/:userId', async (req, res) => {
    await sessionOf(req, d.accounts);
    const u = await d.accounts.getUser(str(req.params.userId));
    // Authorised against the user's own tenant: a tenant admin can't remove another dealership's staff.
    await guard(req, u?.role === 'platform_admin' || !u ? 'user.invite_platform' : 'user.remove', u?.tenantId ?? null);
    if (!u) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such user');
    await d.accounts.removeUser(u.id);
    await audit(req, { action: 'user.remove', tenantId: u.tenantId, target: u.email });
    res.status(204).end();
  });

  api.get('/audit', async (req, res) => {
    const tenantId = str(req.query.tenantId) || null;
    await guard(req, tenantId ? 'audit.read' : 'audit.read_all', tenantId);
    const q = d.tenants.db('platform.audit_log').orderBy('id', 'desc').limit(200).select('id', 'at', 'actor', 'role', 'tenant_id as tenantId', 'action', 'target', 'ip', 'details');
    if (tenantId) q.where({ tenant_id: tenantId });
    res.json({ items: await q });
  });

  /** The form generator's input: the tenant JSON schema and each loaded plugin's settings schema. */
  api.get('/schemas', async (req, res) => {
    await sessionOf(req, d.accounts);
    const tenant = JSON.parse(fs.readFileSync(packagePath('tenants', 'schema', 'dealership.schema.json'), 'utf8')) as unknown;
    const plugins = d.registry.list().map((p) => ({ id: p.id, kind: p.kind, description: p.description, settingsSchema: d.registry.manifest(p.id)?.settingsSchema ?? null, needsCredentials: p.needsCredentials }));
    res.json({ tenant, plugins });
  });

  // ---- live calls --------------------------------------------------------------------------------

  const tenantParam = (req: express.Request) => str(req.params.id);

  /** Calls of the tenant not ended yet (any process): the rows the live view starts from. */
  api.get('/tenants/:id/live/calls', async (req, res) => {
    await guard(req, 'call.live', tenantParam(req));
    const pii = authorize(principalOf(req), 'pii.read', tenantParam(req)).ok;
    const items = await d.tenants.withTenant(tenantParam(req), (trx) => trx('calls').whereNull('ended_at')
      .where('started_at', '>', new Date(Date.now() - 2 * 3600_000)).orderBy('started_at', 'desc').limit(100)
      .select('call_sid as callSid', 'direction', 'from_number as from', 'to_number as to', 'status', 'started_at as startedAt')) as Record<string, unknown>[];
    res.json({ items: pii ? items : items.map((c) => ({ ...c, from: c.from ? 'hidden' : null })) });
  });

  /** Server-Sent Events: the tenant's live feed (utterances, barge-ins, call start and end). */
  api.get('/tenants/:id/live', async (req, res) => {
    const tenantId = tenantParam(req);
    await guard(req, 'call.live', tenantId);
    res.status(200).set({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write('retry: 2000\n\n');
    const unsubscribe = await d.live.subscribe(tenantId, (e) => { res.write(`data: ${JSON.stringify(e)}\n\n`); });
    const keep = setInterval(() => res.write(': keepalive\n\n'), SSE_KEEPALIVE_MS);
    req.on('close', () => {
      clearInterval(keep);
      unsubscribe().catch((e: unknown) => d.logger.debug({ err: (e as Error).message }, 'live feed unsubscribe failed'));
    });
  });

  const callControl = (action: 'hangup' | 'transfer') => async (req: express.Request, res: express.Response) => {
    const tenantId = tenantParam(req);
    await guard(req, 'call.control', tenantId);
    const callSid = str(req.params.callSid);
    if (!CALL_SID_RE.test(callSid)) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such call');
    const row = await d.tenants.withTenant(tenantId, (trx) => trx('calls').where({ call_sid: callSid }).first('id'));
    if (!row) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such call');
    const local = d.voice.find(callSid);
    if (callSid.startsWith('WB')) {
      // A browser test call has no phone leg: ending the session is hanging up (transfer has nowhere to go).
      if (action === 'transfer') throw new ServiceLaneError('ADM_ERR_VALIDATION', 'a browser test call cannot be transferred');
      await local?.end('stop');
    } else if (action === 'hangup') await d.telephony.hangUp({ tenantId, callSid });
    else await d.telephony.transfer({ tenantId, callSid });
    await audit(req, { action: `call.${action}`, tenantId, target: callSid });
    res.json({ callSid, action });
  };
  api.post('/tenants/:id/calls/:callSid/hangup', callControl('hangup'));
  api.post('/tenants/:id/calls/:callSid/transfer', callControl('transfer'));

  /** Opens a browser test call: a one-time ticket for the talk socket, bound to this user. */
  api.post('/tenants/:id/talk', async (req, res) => {
    const tenantId = tenantParam(req);
    await guard(req, 'call.talk', tenantId);
    const t = await d.tenants.getActive(tenantId);
    if (!t.config) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; calls are disabled');
    const out = await d.telephony.mintTalkTicket({ tenantId, userId: req.consoleSession!.userId });
    await audit(req, { action: 'call.talk', tenantId, target: out.callSid });
    res.status(201).json({ ticket: out.ticket, callSid: out.callSid, socket: '/console/talk' });
  });

  api.post('/tenants/:id/callbacks/:taskId/done', async (req, res) => {
    const tenantId = tenantParam(req);
    await guard(req, 'callback.update', tenantId);
    const id = str(req.params.taskId);
    if (!UUID_RE.test(id)) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such callback task');
    const n = await d.tenants.withTenant(tenantId, (trx) => trx('callback_tasks').where({ id }).update({ status: 'done' }));
    if (!n) throw new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such callback task');
    await audit(req, { action: 'callback.done', tenantId, target: id });
    res.json({ id, status: 'done' });
  });

  api.use((_req, _res, next) => next(new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such route')));
  return r;
}
