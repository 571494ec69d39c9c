import type express from 'express';
import type { Action } from '../accounts/policy.js';
import type { Tenant } from '../tenancy/tenants.js';
import type { AdminApiDeps, RouteKit } from './route-kit.js';
import { bodyValidator, queryValidator, INSTANT_QUERY_SCHEMA, PAGE, SLUG_PATTERN, TENANT_ID_PATTERN, type JsonSchema } from './validate.js';

/**
 * One admin route as data (docs/architecture.md, "Admin API"): the builder (build-router.ts) mounts it on express
 * and the OpenAPI generator (openapi.ts) documents it, both from this one definition, so the two can't disagree.
 */

export type Obj = Record<string, unknown>;
export type Method = 'get' | 'post' | 'put' | 'delete';

/**
 * Who may call a route, checked by the builder before validation and before the handler runs:
 * - `public`: no token (mounted before authentication);
 * - `tenant`: the path's tenant (`:id`) is authorised for `action`, then loaded (`ctx.tenant`);
 * - `guard`: `action` is authorised for the path's tenant id when `tenantFromPath` (before any lookup; the
 *   handler loads the tenant itself), else platform-wide;
 * - `signedIn`: any principal; the handler narrows what it returns by asking `ctx.may(action)`.
 */
export type Access =
  | { kind: 'public' }
  | { kind: 'tenant'; action: Action }
  | { kind: 'guard'; action: Action; tenantFromPath?: boolean }
  | { kind: 'signedIn'; action: Action };

/** A path parameter other than the tenant `:id`; `check` runs after authorisation, before query and body. */
export interface PathParam { description?: string; schema: Obj; check?: (value: string) => void }

export interface RouteCtx<Q, B> {
  req: express.Request;
  res: express.Response;
  deps: AdminApiDeps;
  kit: RouteKit;
  /** The validated (coerced, defaulted) query string; `{}` for routes without a query schema. */
  query: Q;
  /** The validated body; for a body validated by the handler itself, the raw parsed JSON. */
  body: B;
  /** A path parameter as a string ('' when absent). */
  param(name: string): string;
  /** Whether the principal may perform the route's `signedIn` action (false for the other access kinds). */
  may(): boolean;
}
export type TenantCtx<Q, B> = RouteCtx<Q, B> & { tenant: Tenant };

export interface RouteBody {
  /** The JSON schema; validated by the builder unless `validatedBy` names the handler's own parser. */
  schema: Obj;
  /** Documented under components/schemas with this name (a `$ref` in the operation). */
  component?: string;
  /** Set when the handler parses the body itself with its own coded error (e.g. TEN_ERR_CONFIG_INVALID). */
  validatedBy?: string;
}

interface RouteDoc {
  method: Method;
  /** Express path below /admin/v1 (`/tenants/:id/calls/:callId`). */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  /** Path parameters besides `:id` (documented once, in TENANT_ID_PARAM). */
  params?: Record<string, PathParam>;
  /** An object schema: each property is one query parameter (its `description` documents it). */
  query?: JsonSchema;
  body?: RouteBody;
  /** OpenAPI responses by status. */
  responses: Obj;
}

/** The erased form the builder and the generator work on. */
export interface RouteDef extends RouteDoc {
  access: Access;
  validateQuery?: (q: unknown) => unknown;
  validateBody?: (b: unknown) => unknown;
  handler: (ctx: RouteCtx<unknown, unknown> & { tenant?: Tenant }) => Promise<void> | void;
}

function compiled(d: RouteDoc): Pick<RouteDef, 'validateQuery' | 'validateBody'> {
  return {
    ...(d.query ? { validateQuery: queryValidator(d.query) } : {}),
    ...(d.body && !d.body.validatedBy ? { validateBody: bodyValidator(d.body.schema) } : {}),
  };
}

/** A route on the path's tenant: `ctx.tenant` is authorised for `action` and loaded. */
export function tenantRoute<Q = Record<string, never>, B = undefined>(d: RouteDoc & { action: Action; handler: (ctx: TenantCtx<Q, B>) => Promise<void> }): RouteDef {
  const { action, handler, ...doc } = d;
  return { ...doc, ...compiled(doc), access: { kind: 'tenant', action }, handler: handler as RouteDef['handler'] };
}

/** A route authorised for `action` before anything is looked up (platform-wide, or the path's tenant id). */
export function guardedRoute<Q = Record<string, never>, B = undefined>(d: RouteDoc & { action: Action; tenantFromPath?: boolean; handler: (ctx: RouteCtx<Q, B>) => Promise<void> }): RouteDef {
  const { action, tenantFromPath, handler, ...doc } = d;
  return { ...doc, ...compiled(doc), access: { kind: 'guard', action, ...(tenantFromPath ? { tenantFromPath } : {}) }, handler: handler as RouteDef['handler'] };
}

/** A route every signed-in principal may call; `ctx.may()` says whether `action` widens what it sees. */
export function signedInRoute<Q = Record<string, never>, B = undefined>(d: RouteDoc & { action: Action; handler: (ctx: RouteCtx<Q, B>) => Promise<void> }): RouteDef {
  const { action, handler, ...doc } = d;
  return { ...doc, ...compiled(doc), access: { kind: 'signedIn', action }, handler: handler as RouteDef['handler'] };
}

/** A route served without a token (mounted before authentication). */
export function publicRoute(d: RouteDoc & { handler: (ctx: RouteCtx<Record<string, never>, undefined>) => void }): RouteDef {
  const { handler, ...doc } = d;
  return { ...doc, ...compiled(doc), access: { kind: 'public' }, handler: handler as RouteDef['handler'] };
}

// ---- documentation pieces shared by the route modules --------------------------------------------

export const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
export const json = (schema: Obj): Obj => ({ 'application/json': { schema } });
export const errorResponse = (description: string): Obj => ({ description, content: json(ref('Error')) });
export const ok = (description: string, schema: Obj): Obj => ({ description, content: json(schema) });
export const paged = (item: Obj): Obj => ({
  type: 'object', required: ['items', 'limit'],
  properties: { items: { type: 'array', items: item }, limit: { type: 'integer' }, offset: { type: 'integer' }, total: { type: 'integer' } },
});

/** Responses every authenticated route can give, so each operation lists them without repeating itself. */
export const COMMON_RESPONSES = {
  400: errorResponse('ADM_ERR_VALIDATION: body or query failed validation; details.errors lists each.'),
  401: errorResponse('ADM_ERR_UNAUTHENTICATED'),
  403: errorResponse('ADM_ERR_FORBIDDEN (a tenant role outside its tenant, a viewer changing something, or a platform-only action); audited. ACC_ERR_CSRF for a session without its CSRF token.'),
  429: errorResponse('ADM_ERR_RATE_LIMITED'),
};
export const TENANT_RESPONSES = { ...COMMON_RESPONSES, 404: errorResponse('TEN_ERR_NOT_FOUND') };

/** The `:id` path parameter of every tenant route. */
export const TENANT_ID_PARAM: Obj = {
  name: 'id', in: 'path', required: true, schema: { type: 'string', anyOf: [{ pattern: TENANT_ID_PATTERN }, { pattern: SLUG_PATTERN }] },
  description: 'Tenant id (lowercase ULID) or the tenant\'s slug (`demo`); a slug is resolved to the id before authorisation.',
};

/** Query properties for paging, validated and documented alike. */
export const PAGE_QUERY = {
  limit: { type: 'integer', minimum: 1, maximum: PAGE.maxLimit, default: PAGE.defaultLimit },
  offset: { type: 'integer', minimum: 0, maximum: 100_000, default: 0 },
};

/** An instant query property (`from`, `to`, `before`), checked by parseQueryInstants in validate.ts. */
export const instantQuery = (description: string): Obj => ({
  ...INSTANT_QUERY_SCHEMA, examples: ['2026-12-07T09:00:00-08:00', '2026-12-07T17:00:00Z', '2026-12-07'],
  description: `${description} An ISO 8601 date-time with an offset, or a date (a day in the dealership's time zone).`,
});
