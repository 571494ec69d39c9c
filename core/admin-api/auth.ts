import crypto from 'node:crypto';
import type express from 'express';
import jwt from 'jsonwebtoken';
import { ServiceLaneError } from '../errors.js';
import type { AppConfig } from '../config.js';
import type { TenantService } from '../tenancy/tenants.js';
import { ROLES, type Principal, type Role } from '../accounts/policy.js';

export const JWT_ISSUER = 'servicelane';
export const JWT_AUDIENCE = 'servicelane';
/** Small enough that a stolen-then-expired token is dead soon; large enough for normal clock drift. */
const CLOCK_TOLERANCE_SEC = 30;

/** Token roles are the policy's roles (core/accounts/policy.ts): one set of rules for tokens and console sessions. */
export type AdminRole = Role;
export const ADMIN_ROLES: readonly AdminRole[] = ROLES;

/** Who is calling, established from a verified token or console session only. */
export type AdminPrincipal = Principal;

type JwtKeyConfig = AppConfig['jwt'];

interface VerifierKey { key: string | crypto.KeyObject; algorithms: jwt.Algorithm[]; kid: string }

/**
 * The fingerprint used as `kid`: a token naming any other key id is refused, so a rotated-out key can't be
 * smuggled back in by a header claim. Tokens without `kid` are verified against the configured key.
 */
export function keyIdFor(keyMaterial: string): string {
  let bytes: Buffer;
  try {
    const k = crypto.createPublicKey(keyMaterial);
    bytes = k.export({ type: 'spki', format: 'der' });
  } catch {
    bytes = Buffer.from(keyMaterial, 'utf8');
  }
  return crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

function verifierKey(cfg: JwtKeyConfig): VerifierKey {
  // An asymmetric key wins when both are set: HS256 must never be verified with a public key (alg confusion).
  if (cfg.publicKey) {
    const key = crypto.createPublicKey(cfg.publicKey);
    const alg: jwt.Algorithm = key.asymmetricKeyType === 'ec' ? 'ES256' : 'RS256';
    if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'rsa') {
      throw new ServiceLaneError('CFG_ERR_ENV_INVALID', 'ADMIN_JWT_PUBLIC_KEY must be an RSA or EC (P-256) public key', { variables: ['ADMIN_JWT_PUBLIC_KEY'] });
    }
    return { key, algorithms: [alg], kid: keyIdFor(cfg.publicKey) };
  }
  if (cfg.secret) return { key: cfg.secret, algorithms: ['HS256'], kid: keyIdFor(cfg.secret) };
  throw new ServiceLaneError('CFG_ERR_ENV_INVALID', 'ADMIN_JWT_SECRET or ADMIN_JWT_PUBLIC_KEY is required', { variables: ['ADMIN_JWT_SECRET'] });
}

const unauthenticated = (message: string) => new ServiceLaneError('ADM_ERR_UNAUTHENTICATED', message);

/**
 * Returns a verifier pinned to one key and its algorithm family, issuer and audience `servicelane`, `exp`
 * required. Every failure is the same coded 401; the reason goes into the message only.
 */
export function createTokenVerifier(cfg: JwtKeyConfig): (token: string) => AdminPrincipal {
  const vk = verifierKey(cfg);
  return (token) => {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded === 'string' || typeof decoded.payload === 'string') throw unauthenticated('malformed bearer token');
    if (decoded.header.kid !== undefined && decoded.header.kid !== vk.kid) throw unauthenticated('unknown key id');
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, vk.key, {
        algorithms: vk.algorithms, issuer: JWT_ISSUER, audience: JWT_AUDIENCE, clockTolerance: CLOCK_TOLERANCE_SEC,
      }) as jwt.JwtPayload;
    } catch (e) {
      throw unauthenticated(`invalid token: ${(e as Error).message}`);
    }
    if (typeof payload.exp !== 'number') throw unauthenticated('token has no exp');
    if (typeof payload.sub !== 'string' || payload.sub === '') throw unauthenticated('token has no sub');
    const role = payload.role as unknown;
    if (!ADMIN_ROLES.includes(role as AdminRole)) throw unauthenticated('token has no valid role');
    const tenant = typeof payload.tenant === 'string' ? payload.tenant : null;
    if (role !== 'platform_admin' && !tenant) throw unauthenticated(`${String(role)} token has no tenant claim`);
    return { sub: payload.sub, role: role as AdminRole, tenant: role === 'platform_admin' ? null : tenant };
  };
}

/**
 * Signs an HS256 admin token the way the verifier expects (iss/aud, exp, kid). For `npm run token`, the dev
 * banner and tests; production tokens come from your identity provider.
 */
export function signDevToken(o: { secret: string; role: AdminRole; tenant?: string; ttlSec?: number; sub?: string }): string {
  if (o.role !== 'platform_admin' && !o.tenant) throw new ServiceLaneError('ADM_ERR_VALIDATION', 'tenant tokens need a tenant');
  const claims: Record<string, unknown> = { role: o.role };
  if (o.role !== 'platform_admin') claims.tenant = o.tenant;
  return jwt.sign(claims, o.secret, {
    algorithm: 'HS256', issuer: JWT_ISSUER, audience: JWT_AUDIENCE, subject: o.sub ?? `dev-${o.role}`,
    expiresIn: o.ttlSec ?? 3600, keyid: keyIdFor(o.secret), jwtid: crypto.randomUUID(),
  });
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by the admin auth middleware once the bearer token verified. */
    principal?: AdminPrincipal;
  }
}

/**
 * Bearer-token middleware. A tenant_admin whose tenant is gone or offboarded is refused here, so offboarding
 * revokes every token of that tenant at once without a deny list.
 */
export function authenticate(o: { jwt: JwtKeyConfig; tenants: TenantService }): express.RequestHandler {
  const verify = createTokenVerifier(o.jwt);
  return async (req, _res, next) => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer ([A-Za-z0-9_\-.]+)$/.exec(h);
    if (!m) throw unauthenticated('missing bearer token');
    const principal = verify(m[1]!);
    if (principal.tenant) {
      const t = await o.tenants.find(principal.tenant);
      if (!t || t.status === 'offboarded') throw unauthenticated('the token\'s tenant is offboarded or unknown');
    }
    req.principal = principal;
    next();
  };
}

/** The verified caller; routes run only after `authenticate`, so absence is a wiring bug. */
export function principalOf(req: express.Request): AdminPrincipal {
  if (!req.principal) throw unauthenticated('not authenticated');
  return req.principal;
}
