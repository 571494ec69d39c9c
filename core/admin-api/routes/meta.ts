import { migrationStatus } from '../../db/migrate.js';
import { ADMIN_BASE_PATH } from '../base-path.js';
import { COMMON_RESPONSES, guardedRoute, ok, publicRoute, ref, type Obj, type RouteDef } from '../route.js';

/** Where the document is and how to authenticate (no token), the document itself, and migration state. */
export function metaRoutes(o: { document: () => Obj }): RouteDef[] {
  return [
    publicRoute({
      method: 'get', path: '/openapi.json', operationId: 'getOpenApi', summary: 'This document', tags: ['meta'],
      responses: { 200: ok('OpenAPI 3.1 document', { type: 'object' }) },
      handler: ({ res }) => { res.json(o.document()); },
    }),
    // The base path answers too (the start banner prints it): where the document is and how to authenticate.
    publicRoute({
      method: 'get', path: '/', operationId: 'getIndex', summary: 'Where this document is and how to authenticate', tags: ['meta'],
      responses: { 200: ok('index', { type: 'object' }) },
      handler: ({ res }) => {
        res.json({ openapi: `${ADMIN_BASE_PATH}/openapi.json`, authentication: 'Authorization: Bearer <JWT> (npm run token -- --role platform_admin)', tenants: `${ADMIN_BASE_PATH}/tenants` });
      },
    }),
    guardedRoute({
      method: 'get', path: '/migrations', operationId: 'getMigrations', summary: 'Migration state of the platform schema and all tenants (platform_admin)', tags: ['meta'],
      action: 'migrations.read',
      responses: { 200: ok('status', ref('MigrationStatus')), ...COMMON_RESPONSES },
      handler: async ({ res, deps }) => { res.json(await migrationStatus(deps.db)); },
    }),
  ];
}
