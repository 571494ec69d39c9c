import fs from 'node:fs';
import crypto from 'node:crypto';
import { Ajv } from 'ajv';
import * as addFormatsModule from 'ajv-formats';
import { ServiceLaneError } from '../errors.js';
import { packagePath } from '../paths.js';
// ajv-formats is CJS (`exports.default = formatsPlugin`); under NodeNext the callable sits on `.default`.
const addFormats = addFormatsModule.default.default;
export const SLOT_NAMES = ['crm', 'calendar', 'stt', 'llm', 'tts', 'telephony', 'notify', 'vehicle'];
const schemaPath = packagePath('tenants', 'schema', 'dealership.schema.json');
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
const ianaZones = new Set(Intl.supportedValuesOf('timeZone'));
ianaZones.add('UTC');
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
addFormats(ajv);
ajv.addFormat('iana-timezone', { type: 'string', validate: (s) => ianaZones.has(s) });
const validateFn = ajv.compile(schema);
export function formatAjvErrors(errors) {
    return (errors ?? []).map((e) => ({
        path: e.instancePath || '/',
        message: e.keyword === 'additionalProperties'
            ? `unknown property "${String(e.params.additionalProperty)}"`
            : e.message ?? 'invalid',
    }));
}
/** Cross-field rules JSON Schema can't say: unique ids, open < close, resources for every service. */
function semanticIssues(c) {
    const out = [];
    const dup = (ids, p) => ids.forEach((id, i) => { if (ids.indexOf(id) !== i)
        out.push({ path: `${p}/${i}/id`, message: `duplicate id "${id}"` }); });
    dup(c.serviceTypes.map((s) => s.id), '/serviceTypes');
    dup(c.resources.map((r) => r.id), '/resources');
    for (const [day, ivs] of Object.entries(c.businessHours)) {
        (ivs ?? []).forEach((iv, i) => { if (iv.open >= iv.close)
            out.push({ path: `/businessHours/${day}/${i}`, message: 'open must be before close' }); });
    }
    c.serviceTypes.forEach((s, i) => {
        const kinds = s.resourceKinds ?? ['bay'];
        if (!c.resources.some((r) => kinds.includes(r.kind)))
            out.push({ path: `/serviceTypes/${i}/resourceKinds`, message: 'no resource of these kinds exists' });
    });
    return out;
}
/** Validates and returns the config with defaults applied, or throws TEN_ERR_CONFIG_INVALID listing every issue. */
export function parseDealershipConfig(input) {
    const copy = structuredClone(input);
    if (!validateFn(copy)) {
        throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid', { errors: formatAjvErrors(validateFn.errors) });
    }
    const cfg = copy;
    const issues = semanticIssues(cfg);
    if (issues.length)
        throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid', { errors: issues });
    return cfg;
}
/** Stable over key order, so the plugin instance cache isn't invalidated by a re-serialisation. */
export function configHash(value) {
    const canon = (v) => Array.isArray(v) ? v.map(canon)
        : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;
    return crypto.createHash('sha256').update(JSON.stringify(canon(value))).digest('hex').slice(0, 16);
}
//# sourceMappingURL=config.js.map