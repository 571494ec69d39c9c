/**
 * The one authorization policy of ServiceLane. The admin REST API (JWT callers) and the web console (session
 * callers) both ask `authorize()` before touching anything, so "who may do what" is written once: a rule
 * changed here changes both doors at once (docs/console.md, "Roles").
 *
 * Three roles: `platform_admin` (the operator: every tenant, platform-only actions), `tenant_admin` (one
 * dealership: reads and changes its own configuration, credentials, users, calls), `tenant_viewer` (one
 * dealership, read-only, and no PII: tool-call arguments and caller numbers are hidden).
 */

export type Role = 'platform_admin' | 'tenant_admin' | 'tenant_viewer';
export const ROLES: readonly Role[] = ['platform_admin', 'tenant_admin', 'tenant_viewer'];

/** Who is acting, from a verified token or a live session only (never from a request body). */
export interface Principal {
  /** Stable actor name written into audit rows (JWT `sub`, or the console user's email). */
  sub: string;
  role: Role;
  /** Set for tenant roles: the only tenant this principal may touch. */
  tenant: string | null;
}

/**
 * Every action either door performs. `platform` actions are the operator's alone; `write` actions need
 * tenant_admin on the tenant; `read` actions are open to every role of the tenant.
 */
const ACTIONS = {
  // platform-only
  'tenant.create': 'platform', 'tenant.offboard': 'platform', 'tenant.list_all': 'platform', 'number.attach': 'platform',
  'number.detach': 'platform', 'migrations.read': 'platform', 'usage.summary': 'platform', 'audit.read_all': 'platform', 'user.invite_platform': 'platform', 'reminders.send.ignore_window': 'platform',
  // tenant writes
  'tenant.config': 'write', 'credential.put': 'write', 'plugin.test': 'write', 'user.invite': 'write', 'user.remove': 'write',
  'call.control': 'write', 'call.talk': 'write', 'callback.update': 'write', 'pii.read': 'write', 'audit.read': 'write',
  'reminders.send': 'write', 'google.authorize': 'write', 'google.connect': 'write', 'google.calendar': 'write', 'google.disconnect': 'write',
  // tenant reads
  'tenant.read': 'read', 'credential.list': 'read', 'plugin.status': 'read', 'user.list': 'read', 'call.live': 'read',
  'data.customers': 'read', 'data.appointments': 'read', 'data.reminders': 'read', 'data.callbacks': 'read',
  'data.calls': 'read', 'data.call': 'read', 'data.usage': 'read', 'google.read': 'read', 'google.calendars': 'read',
} as const satisfies Record<string, 'platform' | 'write' | 'read'>;

export type Action = keyof typeof ACTIONS;

export type Decision = { ok: true } | { ok: false; reason: string };

/**
 * May `p` perform `action` on `tenantId` (null for platform-wide actions)? Pure and synchronous, so both doors
 * call it before any lookup: a refused caller learns nothing about whether the tenant exists.
 */
export function authorize(p: Principal, action: Action, tenantId: string | null): Decision {
  if (p.role === 'platform_admin') return { ok: true };
  const level = ACTIONS[action];
  if (level === 'platform') return { ok: false, reason: `${action} is for platform admins` };
  if (!p.tenant || tenantId !== p.tenant) return { ok: false, reason: 'another tenant' };
  if (level === 'write' && p.role !== 'tenant_admin') return { ok: false, reason: `${action} needs tenant_admin` };
  return { ok: true };
}

/** Roles a principal may hand out in an invitation: never more than its own. */
export function mayInviteRole(p: Principal, role: Role): boolean {
  if (role === 'platform_admin') return p.role === 'platform_admin';
  return p.role === 'platform_admin' || p.role === 'tenant_admin';
}
