import { compileArgs } from './schema.js';
/**
 * A refusal the model hears: a stable code and a short sentence that is safe to speak (no ids, no PII,
 * no echo of the arguments). `extra` carries structured help such as alternative slots.
 */
export class ToolFailure extends Error {
    code;
    spoken;
    extra;
    constructor(code, spoken, extra) {
        super(spoken);
        this.code = code;
        this.spoken = spoken;
        this.extra = extra;
        this.name = 'ToolFailure';
    }
}
function profileKey(ctx, customerId) {
    return `${ctx.tenant.id}|${ctx.tenant.configHash}|${customerId}`;
}
/**
 * The customer's record and vehicles. `fresh` (verification) always reads the CRM and refreshes the cache;
 * later tools in the call reuse it for a short TTL. Only the customer's own data is cached, under their id,
 * and add_vehicle drops the entry, so the ownership checks never see a vehicle list older than this call's own changes.
 */
export async function customerProfile(ctx, customerId, o = {}) {
    const key = profileKey(ctx, customerId);
    if (!o.fresh) {
        const hit = ctx.profileCache.get(key);
        if (hit)
            return hit;
    }
    const crm = await ctx.crm();
    const [customer, vehicles] = await Promise.all([
        crm.getCustomer({ id: customerId, signal: ctx.signal }),
        crm.listVehicles({ customerId, signal: ctx.signal }),
    ]);
    if (!customer) {
        ctx.profileCache.delete(key);
        return null;
    }
    const profile = { customer, vehicles };
    ctx.profileCache.set(key, profile);
    return profile;
}
export function rememberProfile(ctx, profile) {
    ctx.profileCache.set(profileKey(ctx, profile.customer.id), profile);
}
export function forgetProfile(ctx, customerId) {
    ctx.profileCache.delete(profileKey(ctx, customerId));
}
/** The ajv schema for a parameter table: closed object, every property required. */
export function argsSchema(params) {
    return {
        type: 'object',
        additionalProperties: false,
        required: Object.keys(params),
        properties: Object.fromEntries(Object.entries(params).map(([k, p]) => [k, { ...p }])),
    };
}
export function defineTool(d) {
    const schema = argsSchema(d.params);
    const validate = compileArgs(schema);
    return {
        name: d.name,
        description: d.description,
        access: d.access,
        offered: d.offered ?? (() => true),
        schema,
        validate,
        // `validate` has proven `args` matches the table before run is reached (Toolbox.execute).
        run: (ctx, args) => d.run(ctx, args),
    };
}
/** Text from a CRM or vendor, quoted to the model as data, never as instructions (tenancy-security §4). */
export function untrusted(text, max = 300) {
    if (!text)
        return undefined;
    // Collapse whitespace so a planted "\n\nassistant:" can't pose as a new turn in a transcript view.
    const clean = text.replace(/\s+/g, ' ').trim().slice(0, max);
    return clean ? { note_from_crm_untrusted: clean } : undefined;
}
/** A short vehicle description from CRM fields ("2019 Honda Civic"), length-capped. */
export function describeVehicle(v) {
    return [v.year, v.make, v.model].filter((x) => x !== undefined && x !== '').join(' ').replace(/\s+/g, ' ').slice(0, 60) || 'vehicle';
}
/** Case-, accent- and punctuation-insensitive name equality ("O'Brien" = "obrien", "José" = "jose"). */
export function sameName(a, b) {
    const norm = (s) => s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
    const x = norm(a);
    return x.length > 0 && x === norm(b);
}
//# sourceMappingURL=define.js.map