import crypto from 'node:crypto';
import type express from 'express';
import type { AccountService, SessionInfo } from '../accounts/accounts.js';
import { authorize, type Action, type Principal } from '../accounts/policy.js';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { TenantService } from '../tenancy/tenants.js';
import { authenticate } from './auth.js';

/** The console's session cookie (HttpOnly, SameSite=Strict, Secure on https deployments). */
export const SESSION_COOKIE = 'sl_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'express-serve-static-core' {
  interface Request {
    /** Set when the request was authenticated by a console session cookie (not a bearer token). */
    consoleSession?: SessionInfo;
  }
}

/** The value of one cookie from the Cookie header (no cookie-parser needed for one name). */
export function cookieValue(req: { headers: { cookie?: string } }, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

/** Constant-time comparison, so the CSRF token can't be found a byte at a time by timing. */
function sameToken(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/**
 * Resolves the console session of a request and enforces its CSRF token on state-changing methods
 * (synchronizer token: the session row holds it, the page sends it in X-CSRF-Token). Throws
 * ACC_ERR_UNAUTHENTICATED without a live session, ACC_ERR_CSRF without the token.
 */
export async function sessionOf(req: express.Request, accounts: Pick<AccountService, 'session'>): Promise<SessionInfo> {
  const sid = cookieValue(req, SESSION_COOKIE);
  const s = sid ? await accounts.session(sid) : null;
  if (!s) throw new ServiceLaneError('ACC_ERR_UNAUTHENTICATED', 'sign in to the console first');
  if (!SAFE_METHODS.has(req.method) && !sameToken(req.get(CSRF_HEADER), s.csrf)) {
    throw new ServiceLaneError('ACC_ERR_CSRF', 'missing or wrong CSRF token; reload the page');
  }
  req.consoleSession = s;
  req.principal = s.principal;
  return s;
}

/**
 * The admin API's door: a bearer token (automation, `npm run token`) or a console session cookie. Both end in
 * the same `req.principal`, which every route then checks with the one policy (`allow` below).
 */
export function authenticateAny(o: { jwt: AppConfig['jwt']; tenants: TenantService; accounts: Pick<AccountService, 'session'> }): express.RequestHandler {
  const bearer = authenticate({ jwt: o.jwt, tenants: o.tenants });
  return async (req, res, next) => {
    if (!req.headers.authorization && cookieValue(req, SESSION_COOKIE) !== null) {
      await sessionOf(req, o.accounts);
      return next();
    }
    return bearer(req, res, next);
  };
}

/** The policy's decision for this request's principal; `onDeny` runs (audits) before the coded 403. */
export async function allow(o: { principal: Principal; action: Action; tenantId: string | null; onDeny?: (reason: string) => Promise<void> }): Promise<void> {
  const d = authorize(o.principal, o.action, o.tenantId);
  if (d.ok) return;
  await o.onDeny?.(d.reason);
  throw new ServiceLaneError('ADM_ERR_FORBIDDEN', 'this account may not perform this action');
}
