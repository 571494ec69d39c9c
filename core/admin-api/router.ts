import crypto from 'node:crypto';
import express from 'express';
import helmet from 'helmet';
import { ServiceLaneError } from '../errors.js';
import { metrics } from '../observability/metrics.js';
import { principalOf } from './auth.js';
import { ADMIN_BASE_PATH } from './base-path.js';
import { mountRoutes } from './build-router.js';
import { authenticateAny } from './guard.js';
import { openApiDocument } from './openapi.js';
import { limiter } from './rate-limit.js';
import { createRouteKit, SLUG_RE, TENANT_ID_RE, type AdminApiDeps } from './route-kit.js';
import { adminRoutes } from './routes/index.js';

export { ADMIN_BASE_PATH };
export type { AdminApiDeps };

const BODY_LIMIT = '100kb';

/**
 * The admin REST API. Order matters: headers → per-IP limit (before auth, so token guessing is limited
 * too) → public routes → auth → per-token limit → body parsing (unauthenticated bodies are never parsed) →
 * routes. The routes themselves are data (routes/*.ts), the same list the OpenAPI document is generated from.
 */
export function createAdminRouter(p: AdminApiDeps): express.Router {
  const r = express.Router();
  const routes = adminRoutes({ document: openApiDocument });
  const kit = createRouteKit(p);
  const limitPerMin = p.cfg.adminRateLimitPerMin;
  r.use((_req, res, next) => { res.on('finish', () => metrics.httpRequests.inc({ group: 'admin', status: String(res.statusCode) })); next(); });
  r.use(helmet());
  r.use(limiter({ state: p.state, logger: p.logger, kind: 'ip', limitPerMin, key: (req) => req.ip ?? 'unknown' }));
  mountRoutes(r, { routes: routes.filter((d) => d.access.kind === 'public'), deps: p, kit });
  r.use(authenticateAny({ jwt: p.cfg.jwt, tenants: p.tenants, accounts: p.accounts }));
  r.use(limiter({
    state: p.state, logger: p.logger, kind: 'token', limitPerMin,
    key: (req) => { const pr = principalOf(req); return crypto.createHash('sha256').update(`${pr.role}:${pr.sub}:${pr.tenant ?? ''}`).digest('hex').slice(0, 32); },
  }));
  r.use(express.json({ limit: BODY_LIMIT }));
  /**
   * Paths take a tenant's id or its slug (`/tenants/demo/customers`). The slug is turned into the id here, once,
   * before any route runs, so every route, authorisation check and audit row below sees only ids. An unknown
   * slug is left as it is: a tenant admin then gets the same 403 as for any other tenant (no probing which
   * slugs exist), a platform admin gets TEN_ERR_NOT_FOUND.
   */
  r.param('id', (req, _res, next, value: string) => {
    if (TENANT_ID_RE.test(value) || !SLUG_RE.test(value)) return next();
    p.tenants.idForSlug(value).then((id) => { if (id) req.params.id = id; next(); }, next);
  });
  mountRoutes(r, { routes: routes.filter((d) => d.access.kind !== 'public'), deps: p, kit });
  r.use((_req, _res, next) => next(new ServiceLaneError('ADM_ERR_NOT_FOUND', 'no such route')));
  return r;
}
