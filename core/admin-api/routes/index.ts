import type { Obj, RouteDef } from '../route.js';
import { appointmentRoutes } from './appointments.js';
import { callbackRoutes } from './callbacks.js';
import { callRoutes } from './calls.js';
import { credentialRoutes } from './credentials.js';
import { customerRoutes } from './customers.js';
import { googleRoutes } from './google.js';
import { metaRoutes } from './meta.js';
import { numberRoutes } from './numbers.js';
import { pluginRoutes } from './plugins.js';
import { reminderRoutes } from './reminders.js';
import { tenantRoutes } from './tenants.js';
import { usageRoutes, usageSchemas } from './usage.js';

/**
 * Every admin route, one module per resource. The router (router.ts) mounts exactly this list and the OpenAPI
 * document (openapi.ts) is generated from it; `document` serves that document at /openapi.json.
 */
export function adminRoutes(o: { document: () => Obj }): RouteDef[] {
  return [
    ...metaRoutes(o), ...tenantRoutes, ...numberRoutes, ...credentialRoutes, ...pluginRoutes, ...customerRoutes, ...appointmentRoutes,
    ...reminderRoutes, ...callbackRoutes, ...callRoutes, ...usageRoutes, ...googleRoutes,
  ];
}

/** Response schemas a route module documents itself (merged into components/schemas). */
export const ROUTE_SCHEMAS: Obj = { ...usageSchemas };
