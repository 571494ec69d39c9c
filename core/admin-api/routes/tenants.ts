import { ServiceLaneError } from '../../errors.js';
import { parseDealershipConfig } from '../../tenancy/config.js';
import { seedDemoData } from '../../tenancy/seed.js';
import { principalOf } from '../auth.js';
import {
  COMMON_RESPONSES, errorResponse, guardedRoute, ok, PAGE_QUERY, paged, ref, signedInRoute, TENANT_RESPONSES, tenantRoute, type RouteDef,
} from '../route.js';
import { tenantDto, TENANT_ID_RE } from '../route-kit.js';
import { SLUG_PATTERN } from '../validate.js';

interface CreateTenantBody { name: string; slug?: string; config: Record<string, unknown>; seed?: 'demo' }

/** Onboarding, listing, reading, configuring and offboarding dealerships. */
export const tenantRoutes: RouteDef[] = [
  guardedRoute<Record<string, never>, CreateTenantBody>({
    method: 'post', path: '/tenants', operationId: 'createTenant', tags: ['tenants'], action: 'tenant.create',
    summary: 'Onboard a dealership: creates its schema t_<ulid> and tables (platform_admin)',
    description: 'The name is stored as data only; the schema name is generated and never taken from the request (a `schema` field is rejected).',
    body: {
      component: 'CreateTenant',
      // `additionalProperties: false`: a `schema`/`schema_name` field is refused, never read (schemas are generated).
      schema: {
        type: 'object', additionalProperties: false, required: ['name', 'config'],
        properties: {
          name: { type: 'string', minLength: 1, maxLength: 200, description: 'Display name; stored as data only.' },
          slug: { type: 'string', pattern: SLUG_PATTERN, description: 'URL-friendly handle; defaults to the id.' },
          config: { type: 'object', description: 'The dealership configuration (components/schemas/DealershipConfig).' },
          seed: { type: 'string', enum: ['demo'], description: 'Also insert the demo customers, vehicles and appointments.' },
        },
      },
    },
    responses: {
      201: ok('created', ref('Tenant')), ...COMMON_RESPONSES,
      400: errorResponse('ADM_ERR_VALIDATION: body failed validation, a `schema` field was sent, or the slug is taken'),
      422: errorResponse('TEN_ERR_CONFIG_INVALID (every error with its JSON path) or PLG_ERR_* from plugin validation'),
      413: errorResponse('ADM_ERR_PAYLOAD_TOO_LARGE (body over 100 kB)'),
    },
    handler: async ({ req, res, deps: p, kit, body }) => {
      if (body.slug && TENANT_ID_RE.test(body.slug)) {
        // Paths accept an id or a slug; a slug shaped like an id would make `/tenants/<that>` ambiguous.
        throw new ServiceLaneError('ADM_ERR_VALIDATION', 'request body failed validation', { errors: [{ path: '/slug', message: 'must not look like a tenant id (26 lowercase letters and digits)' }] });
      }
      const config = parseDealershipConfig(body.config);
      kit.validatePlugins(config);
      const t = await p.tenants.create({ name: body.name, slug: body.slug, config });
      if (body.seed === 'demo') await p.tenants.withTenant(t.id, (trx) => seedDemoData(trx, { timezone: config.timezone, holidays: config.holidays }));
      await kit.audit(req, { action: 'tenant.create', tenantId: t.id, target: t.id, details: { slug: t.slug, seed: body.seed ?? null } });
      res.status(201).json(tenantDto(t));
    },
  }),

  signedInRoute<{ limit: number; offset: number }>({
    method: 'get', path: '/tenants', operationId: 'listTenants', summary: 'List tenants (a tenant_admin sees its own)', tags: ['tenants'], action: 'tenant.list_all',
    query: { type: 'object', additionalProperties: false, properties: PAGE_QUERY },
    responses: { 200: ok('tenants', paged(ref('Tenant'))), ...COMMON_RESPONSES },
    handler: async ({ req, res, deps: p, query: q, may }) => {
      const all = may() ? await p.tenants.list() : [await p.tenants.get(principalOf(req).tenant ?? '')];
      res.json({ items: all.slice(q.offset, q.offset + q.limit).map(tenantDto), total: all.length, limit: q.limit, offset: q.offset });
    },
  }),

  tenantRoute({
    method: 'get', path: '/tenants/:id', operationId: 'getTenant', tags: ['tenants'], action: 'tenant.read',
    summary: 'A tenant with config, numbers, credential names, plugin status and migration state',
    responses: { 200: ok('tenant', ref('TenantDetail')), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, kit, tenant: t }) => {
      const [numbers, credentials, migration, plugins] = await Promise.all([
        p.tenants.listNumbers(t.id),
        p.tenants.listCredentialNames(t.id),
        p.db('platform.tenant_migrations').where({ tenant_id: t.id }).first('version', 'state', 'error', 'updated_at'),
        kit.slotStatus(t.id),
      ]);
      res.json({
        ...tenantDto(t), config: t.rawConfig, configErrors: t.configErrors ?? null, numbers, credentials, plugins,
        migration: migration ? { version: migration.version, state: migration.state, error: migration.error, updatedAt: migration.updated_at } : null,
      });
    },
  }),

  tenantRoute<Record<string, never>, unknown>({
    method: 'put', path: '/tenants/:id/config', operationId: 'putTenantConfig', summary: 'Replace the dealership configuration', tags: ['tenants'], action: 'tenant.config',
    body: { schema: ref('DealershipConfig'), validatedBy: 'parseDealershipConfig (TEN_ERR_CONFIG_INVALID)' },
    responses: { 200: ok('updated', ref('TenantDetail')), ...TENANT_RESPONSES, 409: errorResponse('TEN_ERR_OFFBOARDED'), 422: errorResponse('TEN_ERR_CONFIG_INVALID or PLG_ERR_CONFIG_INVALID / PLG_ERR_NOT_FOUND / PLG_ERR_KIND_MISMATCH / PLG_ERR_CAPABILITY_MISSING; details.errors lists each') },
    handler: async ({ req, res, deps: p, kit, tenant: t, body }) => {
      const config = parseDealershipConfig(body);
      kit.validatePlugins(config);
      kit.refuseCredentialIssues(await p.registry.storedCredentialIssues(t.id, config));
      const updated = await p.tenants.updateConfig(t.id, config);
      await kit.audit(req, { action: 'tenant.config', tenantId: t.id, target: t.id, details: { configHash: updated.configHash } });
      res.json({ ...tenantDto(updated), config: updated.rawConfig });
    },
  }),

  guardedRoute({
    method: 'delete', path: '/tenants/:id', operationId: 'offboardTenant', tags: ['tenants'], action: 'tenant.offboard', tenantFromPath: true,
    summary: 'Offboard: disabled at once, numbers released, data kept (platform_admin)',
    responses: { 200: ok('offboarded', { type: 'object', properties: { id: { type: 'string' }, status: { const: 'offboarded' }, releasedNumbers: { type: 'array', items: { type: 'string' } } } }), ...TENANT_RESPONSES },
    handler: async ({ req, res, deps: p, kit, param }) => {
      const t = await p.tenants.get(param('id'));
      const { releasedNumbers } = await p.tenants.offboard(t.id);
      // Jobs re-check the tenant's status when they run (TEN_ERR_OFFBOARDED → no-op); plugin instances close now.
      await p.registry.closeTenant(t.id);
      // Console sessions of the tenant's users end now (their lookups refuse offboarded tenants as well).
      await p.accounts.revokeTenantSessions(t.id);
      // Google stops notifying about the dealership's calendar (best effort: an unstopped channel expires in 7 days).
      await p.google.sync.stopWatching(t.id).catch((e: Error) => p.logger.warn({ tenantId: t.id, err: e.message }, 'google channel not stopped on offboarding'));
      await kit.audit(req, { action: 'tenant.offboard', tenantId: t.id, target: t.id, details: { releasedNumbers } });
      res.json({ id: t.id, status: 'offboarded', releasedNumbers });
    },
  }),
];
