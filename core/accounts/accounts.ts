import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, verifyPassword } from './passwords.js';
import { mayInviteRole, type Principal, type Role } from './policy.js';

/** Console sessions end 12 h after sign-in whatever the activity: a shift, not forever. */
export const SESSION_TTL_MS = 12 * 3600_000;
/** An invitation link works once, for 72 h. */
export const INVITE_TTL_MS = 72 * 3600_000;
/** Wrong passwords in a row before an account locks, and for how long: slow enough to stop guessing. */
export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60_000;
/** Sign-in attempts per address per minute, whatever the account: stops spraying many accounts. */
export const LOGIN_ATTEMPTS_PER_MIN = 30;

export interface ConsoleUser { id: string; email: string; role: Role; tenantId: string | null; createdAt: Date; lockedUntil: Date | null }
export interface SessionInfo { principal: Principal; userId: string; csrf: string; email: string }

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,189}\.[^\s@]{2,}$/;
const sha256 = (s: string) => crypto.createHash('sha256').update(s).digest('hex');
const token = () => crypto.randomBytes(32).toString('base64url');

function normEmail(raw: unknown): string {
  const e = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (!EMAIL_RE.test(e) || e.length > 254) throw new ServiceLaneError('ADM_ERR_VALIDATION', 'email is invalid', { errors: [{ path: '/email', message: 'must be an email address' }] });
  return e;
}

interface UserRow { id: string; email: string; password_hash: string; role: Role; tenant_id: string | null; failed_logins: number; locked_until: Date | null; created_at: Date }

/**
 * Console users, invitations and sessions, all in the platform schema. Only hashes are stored for secrets
 * (Argon2id for passwords, sha256 for session ids and invitation tokens), so a leaked row can't sign anyone in.
 */
export class AccountService {
  constructor(private readonly o: {
    db: Knex; state: StateStore; logger: Logger;
    /** Is this tenant still taking changes? Sessions of an offboarded tenant end at their next request. */
    tenantActive: (tenantId: string) => Promise<boolean>;
    clock?: () => Date;
  }) {}

  private now(): Date { return this.o.clock?.() ?? new Date(); }

  // ---- invitations ------------------------------------------------------------------------------

  /**
   * Creates a one-time invitation. The caller delivers the link: printed for a platform admin, sent through
   * the tenant's notify plugin otherwise (console router). Returns the raw token exactly once.
   */
  async invite(o: { by: Principal; email: unknown; role: Role; tenantId: string | null }): Promise<{ token: string; email: string; expiresAt: Date }> {
    const email = normEmail(o.email);
    if (!mayInviteRole(o.by, o.role)) throw new ServiceLaneError('ADM_ERR_FORBIDDEN', `this account may not invite a ${o.role}`);
    const tenantId = o.role === 'platform_admin' ? null : o.tenantId;
    if (o.role !== 'platform_admin' && !tenantId) throw new ServiceLaneError('ADM_ERR_VALIDATION', 'tenant users need a tenant', { errors: [{ path: '/tenantId', message: 'required' }] });
    if (await this.o.db('platform.users').where({ email }).first('id')) throw new ServiceLaneError('ACC_ERR_EMAIL_TAKEN', 'an account with this email exists');
    const t = token();
    const expiresAt = new Date(this.now().getTime() + INVITE_TTL_MS);
    await this.o.db('platform.invitations').insert({ token_hash: sha256(t), email, role: o.role, tenant_id: tenantId, invited_by: o.by.sub, expires_at: expiresAt });
    return { token: t, email, expiresAt };
  }

  /** What an invitation is for, so the accept page can say it; unknown, used or expired → ACC_ERR_INVITE_INVALID. */
  async inspectInvite(raw: string): Promise<{ email: string; role: Role; tenantId: string | null }> {
    const row = await this.o.db('platform.invitations').where({ token_hash: sha256(raw) }).first('email', 'role', 'tenant_id', 'expires_at', 'accepted_at');
    if (!row || row.accepted_at || new Date(row.expires_at) <= this.now()) throw new ServiceLaneError('ACC_ERR_INVITE_INVALID', 'this invitation link is unknown, used or expired');
    return { email: row.email, role: row.role, tenantId: row.tenant_id };
  }

  /** Consumes the invitation and creates the user in one transaction: a link works once, even when raced. */
  async acceptInvite(o: { token: unknown; password: unknown }): Promise<ConsoleUser> {
    const raw = typeof o.token === 'string' ? o.token : '';
    const password = typeof o.password === 'string' ? o.password : '';
    if (password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
      throw new ServiceLaneError('ACC_ERR_PASSWORD_WEAK', `password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`, { errors: [{ path: '/password', message: `at least ${PASSWORD_MIN} characters` }] });
    }
    const passwordHash = await hashPassword(password);
    return this.o.db.transaction(async (trx) => {
      const inv = await trx('platform.invitations').where({ token_hash: sha256(raw) }).whereNull('accepted_at')
        .where('expires_at', '>', this.now()).forUpdate().first('token_hash', 'email', 'role', 'tenant_id');
      if (!inv) throw new ServiceLaneError('ACC_ERR_INVITE_INVALID', 'this invitation link is unknown, used or expired');
      if (inv.tenant_id && !(await this.o.tenantActive(inv.tenant_id))) throw new ServiceLaneError('ACC_ERR_INVITE_INVALID', 'the dealership of this invitation is offboarded');
      await trx('platform.invitations').where({ token_hash: inv.token_hash }).update({ accepted_at: this.now() });
      const [u] = await trx('platform.users').insert({ email: inv.email, password_hash: passwordHash, role: inv.role, tenant_id: inv.tenant_id })
        .onConflict('email').ignore().returning('*') as UserRow[];
      if (!u) throw new ServiceLaneError('ACC_ERR_EMAIL_TAKEN', 'an account with this email exists');
      return toUser(u);
    });
  }

  // ---- sign-in and sessions ---------------------------------------------------------------------

  /**
   * Checks the password and opens a session. Unknown email and wrong password answer the same code and take
   * the same time; five failures in a row lock the account for 15 minutes (ACC_ERR_LOCKED), and each address
   * gets LOGIN_ATTEMPTS_PER_MIN tries a minute (ACC_ERR_RATE_LIMITED) before any hash is computed.
   */
  async login(o: { email: unknown; password: unknown; ip: string }): Promise<{ sessionId: string; session: SessionInfo }> {
    const n = await this.o.state.hit(`login:ip:${sha256(o.ip).slice(0, 24)}`, 60);
    if (n > LOGIN_ATTEMPTS_PER_MIN) throw new ServiceLaneError('ACC_ERR_RATE_LIMITED', 'too many sign-in attempts from this address; wait a minute');
    const email = typeof o.email === 'string' ? o.email.trim().toLowerCase().slice(0, 254) : '';
    const password = typeof o.password === 'string' ? o.password.slice(0, PASSWORD_MAX) : '';
    const u = email ? await this.o.db('platform.users').where({ email }).first<UserRow | undefined>() : undefined;
    const now = this.now();
    if (u?.locked_until && new Date(u.locked_until) > now) {
      throw new ServiceLaneError('ACC_ERR_LOCKED', 'this account is locked after repeated failed sign-ins; try again later', { lockedUntil: u.locked_until });
    }
    const ok = await verifyPassword(u?.password_hash ?? null, password);
    if (!u || !ok) {
      if (u) {
        const failed = u.failed_logins + 1;
        const lock = failed >= MAX_FAILED_LOGINS;
        await this.o.db('platform.users').where({ id: u.id }).update({ failed_logins: lock ? 0 : failed, locked_until: lock ? new Date(now.getTime() + LOCKOUT_MS) : null });
        if (lock) throw new ServiceLaneError('ACC_ERR_LOCKED', 'this account is locked after repeated failed sign-ins; try again later', { lockedUntil: new Date(now.getTime() + LOCKOUT_MS) });
      }
      throw new ServiceLaneError('ACC_ERR_BAD_CREDENTIALS', 'email or password is wrong');
    }
    if (u.tenant_id && !(await this.o.tenantActive(u.tenant_id))) throw new ServiceLaneError('ACC_ERR_BAD_CREDENTIALS', 'email or password is wrong');
    await this.o.db('platform.users').where({ id: u.id }).update({ failed_logins: 0, locked_until: null });
    const sessionId = token();
    const csrf = token();
    await this.o.db('platform.sessions').insert({ id_hash: sha256(sessionId), user_id: u.id, csrf_token: csrf, expires_at: new Date(now.getTime() + SESSION_TTL_MS) });
    return { sessionId, session: { principal: { sub: u.email, role: u.role, tenant: u.tenant_id }, userId: u.id, csrf, email: u.email } };
  }

  /** The live session for a cookie value, or null (unknown, expired, user removed, tenant offboarded). */
  async session(sessionId: string): Promise<SessionInfo | null> {
    if (!sessionId || sessionId.length > 100) return null;
    const row = await this.o.db('platform.sessions as s').join('platform.users as u', 'u.id', 's.user_id')
      .where('s.id_hash', sha256(sessionId)).first('s.id_hash', 's.csrf_token', 's.expires_at', 'u.id', 'u.email', 'u.role', 'u.tenant_id');
    if (!row) return null;
    if (new Date(row.expires_at) <= this.now() || (row.tenant_id && !(await this.o.tenantActive(row.tenant_id)))) {
      await this.o.db('platform.sessions').where({ id_hash: row.id_hash }).delete();
      return null;
    }
    return { principal: { sub: row.email, role: row.role, tenant: row.tenant_id }, userId: row.id, csrf: row.csrf_token, email: row.email };
  }

  async logout(sessionId: string): Promise<void> {
    await this.o.db('platform.sessions').where({ id_hash: sha256(sessionId) }).delete();
  }

  // ---- users ------------------------------------------------------------------------------------

  async listUsers(tenantId: string | null): Promise<ConsoleUser[]> {
    const q = this.o.db('platform.users').orderBy('email');
    if (tenantId) q.where({ tenant_id: tenantId });
    return (await q.select<UserRow[]>('*')).map(toUser);
  }

  async getUser(id: string): Promise<ConsoleUser | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    const u = await this.o.db('platform.users').where({ id }).first<UserRow | undefined>();
    return u ? toUser(u) : null;
  }

  /** Removes the user; their sessions go with them (on delete cascade), so they are signed out at once. */
  async removeUser(id: string): Promise<boolean> {
    return (await this.o.db('platform.users').where({ id }).delete()) > 0;
  }

  /** Offboarding: every session of the tenant's users ends now (lookups also refuse offboarded tenants). */
  async revokeTenantSessions(tenantId: string): Promise<number> {
    return this.o.db('platform.sessions').whereIn('user_id', this.o.db('platform.users').where({ tenant_id: tenantId }).select('id')).delete();
  }
}

function toUser(u: UserRow): ConsoleUser {
  return { id: u.id, email: u.email, role: u.role, tenantId: u.tenant_id, createdAt: u.created_at, lockedUntil: u.locked_until };
}
