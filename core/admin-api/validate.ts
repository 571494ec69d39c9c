import type { ValidateFunction } from 'ajv';
import { DateTime } from 'luxon';
import { ServiceLaneError } from '../errors.js';
import { createAjv } from '../sdk/json-schema.js';
import { formatAjvErrors } from '../tenancy/config.js';

// Bodies are validated as sent; query strings need coercion ("20" → 20) but nothing else.
const bodyAjv = createAjv({ allErrors: true, strict: true });
const queryAjv = createAjv({ allErrors: true, strict: true, coerceTypes: true, useDefaults: true });

export type JsonSchema = Record<string, unknown>;

function check<T>(fn: ValidateFunction, value: unknown, where: string): T {
  if (!fn(value)) {
    throw new ServiceLaneError('ADM_ERR_VALIDATION', `${where} failed validation`, { errors: formatAjvErrors(fn.errors) });
  }
  return value as T;
}

/** Compiles a body validator once; the returned function throws ADM_ERR_VALIDATION with every error. */
export function bodyValidator<T>(schema: JsonSchema): (body: unknown) => T {
  const fn = bodyAjv.compile(schema);
  return (body) => check<T>(fn, body ?? {}, 'request body');
}

/** Query validator: copies the (read-only in express 5) query object, coerces and applies defaults. */
export function queryValidator<T>(schema: JsonSchema): (query: unknown) => T {
  const fn = queryAjv.compile(schema);
  return (query) => check<T>(fn, { ...(query as Record<string, unknown>) }, 'query string');
}

export const TENANT_ID_PATTERN = '^[0-9a-z]{26}$';
export const SLUG_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const CREDENTIAL_NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,63}$';

/** Page size bounds shared by every list route and documented in the OpenAPI. */
export const PAGE = { defaultLimit: 50, maxLimit: 100 } as const;

/**
 * Query parameters that name a moment (`from`, `to`, `before`). Checked by `parseQueryInstants`, not by ajv's
 * `date-time` format, so a bare date can be accepted and a bad value gets a message that shows the formats.
 */
export const INSTANT_QUERY_SCHEMA = { type: 'string', minLength: 1, maxLength: 64 } as const;

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
// An offset is required: "09:00" alone is ambiguous between the server's, the dealership's and the caller's zone.
const DATE_TIME_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$/;
export const INSTANT_FORMAT_HELP =
  'must be an ISO 8601 date-time with an offset (2026-12-07T09:00:00-08:00 or 2026-12-07T17:00:00Z) or a date (2026-12-07, a day in the dealership\'s time zone)';

/**
 * Turns instant query values into Dates. A date-time must carry its offset; a bare date is a day on the
 * dealership's calendar (`zone`): its first instant, or for the names in `endOfDay` the first instant of the
 * next day (so `from=2026-12-07&to=2026-12-07` is that whole day). Every bad value is listed in one
 * ADM_ERR_VALIDATION naming its parameter.
 */
export function parseQueryInstants<K extends string>(o: { zone: string; values: Record<K, string | undefined>; endOfDay?: NoInfer<K>[] }): Partial<Record<K, Date>> {
  const out: Partial<Record<K, Date>> = {};
  const errors: { path: string; message: string }[] = [];
  for (const [name, raw] of Object.entries(o.values) as [K, string | undefined][]) {
    if (raw === undefined) continue;
    let dt: DateTime | null = null;
    if (DATE_ONLY.test(raw)) {
      const day = DateTime.fromISO(raw, { zone: o.zone });
      if (day.isValid) dt = o.endOfDay?.includes(name) ? day.startOf('day').plus({ days: 1 }) : day.startOf('day');
    } else if (DATE_TIME_WITH_OFFSET.test(raw)) {
      const t = DateTime.fromISO(raw.replace(' ', 'T'), { setZone: true });
      if (t.isValid) dt = t;
    }
    if (dt) out[name] = dt.toJSDate();
    else errors.push({ path: `/${name}`, message: INSTANT_FORMAT_HELP });
  }
  if (errors.length) throw new ServiceLaneError('ADM_ERR_VALIDATION', 'query string failed validation', { errors });
  return out;
}
