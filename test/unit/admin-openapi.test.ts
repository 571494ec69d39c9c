import assert from 'node:assert/strict';
import { adminRoutes } from '../../core/admin-api/routes/index.js';
import { generateOpenApi, openApiDocument, rolesFor } from '../../core/admin-api/openapi.js';
import { guardedRoute, tenantRoute, type RouteDef } from '../../core/admin-api/route.js';

type Op = { operationId: string; parameters?: { name: string; in: string; schema: Record<string, unknown> }[]; requestBody?: unknown; 'x-action'?: string };

describe('admin API OpenAPI generation', () => {
  const routes = adminRoutes({ document: () => ({}) });
  const doc = openApiDocument() as { paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, unknown> } };

  it('documents each route definition once, with its query schema as its query parameters', () => {
    for (const r of routes) {
      const op = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method];
      assert.ok(op, `${r.method} ${r.path} is documented`);
      assert.equal(op.operationId, r.operationId);
      const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      assert.deepEqual(query, Object.keys((r.query?.properties ?? {}) as object), `${r.operationId} query parameters`);
      const path = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual(path, [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1]), `${r.operationId} path parameters`);
      assert.equal(Boolean(op.requestBody), Boolean(r.body), `${r.operationId} request body`);
    }
    assert.equal(new Set(routes.map((r) => r.operationId)).size, routes.length);
  });

  it('documents validation bounds the router enforces (page size, instant length)', () => {
    const calls = doc.paths['/tenants/{id}/calls']!.get!;
    const limit = calls.parameters!.find((p) => p.name === 'limit')!;
    assert.deepEqual(limit.schema, { type: 'integer', minimum: 1, maximum: 100, default: 50 });
    const before = calls.parameters!.find((p) => p.name === 'before')!;
    assert.equal(before.schema.maxLength, 64);
    assert.ok(doc.components.schemas.CreateTenant, 'a named request body is a component');
  });

  it('names the roles the policy allows for each action', () => {
    assert.deepEqual(rolesFor('tenant.create'), ['platform_admin']);
    assert.deepEqual(rolesFor('tenant.config'), ['platform_admin', 'tenant_admin']);
    assert.deepEqual(rolesFor('tenant.read'), ['platform_admin', 'tenant_admin', 'tenant_viewer']);
  });

  it('refuses a path parameter without a description and a route defined twice', () => {
    const undescribed = tenantRoute({ method: 'get', path: '/tenants/:id/things/:thing', operationId: 'getThing', summary: 's', tags: ['data'], action: 'tenant.read', responses: {}, handler: async () => {} });
    assert.throws(() => generateOpenApi([undescribed]), /:thing is not described/);
    const twice: RouteDef[] = ['a', 'b'].map((id) => guardedRoute({ method: 'get', path: '/x', operationId: id, summary: 's', tags: ['meta'], action: 'migrations.read', responses: {}, handler: async () => {} }));
    assert.throws(() => generateOpenApi(twice), /defined twice/);
  });
});
