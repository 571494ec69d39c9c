import { Ajv } from 'ajv';
import * as addFormatsModule from 'ajv-formats';
import { ServiceLaneError } from '../errors.js';
import { formatAjvErrors } from '../tenancy/config.js';
// ajv-formats is CJS (`exports.default = formatsPlugin`); under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule.default.default;
// Bodies are validated as sent; query strings need coercion ("20" → 20) but nothing else.
const bodyAjv = new Ajv({ allErrors: true, strict: true });
const queryAjv = new Ajv({ allErrors: true, strict: true, coerceTypes: true, useDefaults: true });
addFormats(bodyAjv);
addFormats(queryAjv);
function check(fn, value, where) {
    if (!fn(value)) {
        throw new ServiceLaneError('ADM_ERR_VALIDATION', `${where} failed validation`, { errors: formatAjvErrors(fn.errors) });
    }
    return value;
}
/** Compiles a body validator once; the returned function throws ADM_ERR_VALIDATION with every error. */
export function bodyValidator(schema) {
    const fn = bodyAjv.compile(schema);
    return (body) => check(fn, body ?? {}, 'request body');
}
/** Query validator: copies the (read-only in express 5) query object, coerces and applies defaults. */
export function queryValidator(schema) {
    const fn = queryAjv.compile(schema);
    return (query) => check(fn, { ...query }, 'query string');
}
export const TENANT_ID_PATTERN = '^[0-9a-z]{26}$';
export const SLUG_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
export const CREDENTIAL_NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,63}$';
/** Page size bounds shared by every list route and documented in the OpenAPI. */
export const PAGE = { defaultLimit: 50, maxLimit: 100 };
//# sourceMappingURL=validate.js.map