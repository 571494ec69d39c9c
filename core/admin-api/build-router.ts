import type express from 'express';
import { authorize } from '../accounts/policy.js';
import { principalOf } from './auth.js';
import type { RouteDef, RouteCtx, Access } from './route.js';
import { param, pathTenantId, type AdminApiDeps, type RouteKit } from './route-kit.js';

/**
 * Mounts route definitions on `r`, each the same way: authorisation by its `access` (a refusal is audited by the
 * kit), path-parameter checks, query then body validation (coded ADM_ERR_VALIDATION), then the handler. Errors
 * propagate to the app's error handler (express 5 forwards a rejected promise).
 */
export function mountRoutes(r: express.Router, o: { routes: readonly RouteDef[]; deps: AdminApiDeps; kit: RouteKit }): void {
  for (const def of o.routes) {
    r[def.method](def.path, async (req, res) => {
      const tenant = await authorise(o.kit, def.access, req);
      for (const [name, p] of Object.entries(def.params ?? {})) p.check?.(param(req, name));
      const query = def.validateQuery ? def.validateQuery(req.query) : {};
      const body = def.validateBody ? def.validateBody(req.body) : req.body;
      const ctx: RouteCtx<unknown, unknown> & { tenant?: typeof tenant } = {
        req, res, deps: o.deps, kit: o.kit, query, body, tenant,
        param: (name) => param(req, name),
        may: () => def.access.kind === 'signedIn' && authorize(principalOf(req), def.access.action, null).ok,
      };
      await def.handler(ctx);
    });
  }
}

async function authorise(kit: RouteKit, access: Access, req: express.Request) {
  switch (access.kind) {
    case 'tenant': return kit.tenantFor(req, access.action);
    case 'guard': await kit.guard(req, access.action, access.tenantFromPath ? pathTenantId(req) : null); return undefined;
    case 'signedIn': case 'public': return undefined;
  }
}
