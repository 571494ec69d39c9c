import { isValidVin, normalizeVin } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
import { toE164 } from '../tenancy/tenants.js';
import { MAX_CANDIDATES, MAX_VERIFICATION_ATTEMPTS } from './identity.js';
import { customerProfile, defineTool, describeVehicle, forgetProfile, rememberProfile, sameName, ToolFailure, untrusted } from './define.js';
import { inZone } from './time.js';
const NAME = { type: 'string', minLength: 1, maxLength: 100, pattern: "^[\\p{L}\\p{M}' .-]+$" };
const VIN_INPUT = { type: 'string', minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9 .-]+$' };
/** Failed verifications per caller number and tenant before the number is locked out for the window. */
const VERIFY_FAILURES_PER_PHONE = 10;
const VERIFY_WINDOW_SEC = 3600;
/** Key of the caller-ID cache; the config hash is in it so a CRM switch can't serve the old CRM's ids. */
export function phoneCacheKey(ctx, phone) {
    return `${ctx.tenant.id}|${ctx.tenant.configHash}|${phone}`;
}
function addCandidates(identity, ids) {
    const set = new Set(identity.candidateCustomerIds);
    for (const id of ids)
        if (set.size < MAX_CANDIDATES)
            set.add(id);
    identity.candidateCustomerIds = [...set];
}
function unverifiedAndUnderCap(identity) {
    return identity.verificationAttempts < MAX_VERIFICATION_ATTEMPTS;
}
/** Caller-ID candidates, cached briefly: only ids, so a stale entry can at worst miss a brand-new customer. */
async function candidatesForPhone(ctx, phone) {
    const key = phoneCacheKey(ctx, phone);
    const hit = ctx.phoneCache.get(key);
    if (hit)
        return hit;
    const crm = await ctx.crm();
    const found = await crm.findCustomers({ phone, limit: MAX_CANDIDATES, signal: ctx.signal });
    const ids = found.map((c) => c.id);
    ctx.phoneCache.set(key, ids);
    return ids;
}
/**
 * lookup_customer: caller ID is a hint, never authorization (a spoofed number must learn nothing). The answer
 * says only whether an account is on file and that verification is needed: no name, not even the first,
 * because greeting a spoofer by name already discloses whose number they borrowed (§6.1 #19).
 */
const lookupCustomer = defineTool({
    name: 'lookup_customer',
    description: "Look up the caller's account by the number they are calling from (supplied by the phone system). Returns no account details: the caller must still verify.",
    access: 'unverified',
    offered: (identity) => identity.callerPhone !== null,
    params: {},
    async run(ctx) {
        const phone = ctx.identity.callerPhone;
        if (!phone)
            throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', 'The caller number is not available.');
        const ids = await candidatesForPhone(ctx, phone);
        addCandidates(ctx.identity, ids);
        return {
            content: ids.length > 0
                ? { account_on_file: true, verification_required: true, next_step: 'Ask for the last name on the account and either the last 4 characters of the VIN or the ZIP code, then call verify_customer.' }
                : { account_on_file: false, verification_required: true, next_step: 'Ask whether they are a new customer (create_customer) or have an account under another number (ask for their name, then the VIN last 4 or ZIP, then verify_customer).' },
        };
    },
});
/**
 * search_customers_by_name, offered only before verification and answering the same sentence whatever it
 * finds: the matches become server-side candidates for verify_customer, so the tool can't be used to learn
 * who is a customer. After verification nobody needs to look up other customers, so it isn't offered.
 */
const searchCustomersByName = defineTool({
    name: 'search_customers_by_name',
    description: 'Find the account of a caller who called from another number, by name. Returns no account details; always follow with verify_customer.',
    access: 'unverified',
    offered: unverifiedAndUnderCap,
    params: {
        first_name: { ...NAME, nullable: true, description: 'First name, or null if not given.' },
        last_name: { ...NAME, description: 'Last name as the caller spelled it.' },
    },
    async run(ctx, args) {
        const crm = await ctx.crm();
        const found = await crm.findCustomers({ name: args.last_name, limit: MAX_CANDIDATES, signal: ctx.signal });
        const matches = found.filter((c) => sameName(c.lastName, args.last_name) && (args.first_name === null || sameName(c.firstName, args.first_name)));
        addCandidates(ctx.identity, matches.map((c) => c.id));
        return { content: { next_step: 'Ask for the last 4 characters of the VIN or the ZIP code on the account, then call verify_customer.' } };
    },
});
/** Every given factor must match: a caller who offers both gets no credit for getting one right. */
async function factorsMatch(ctx, c, args) {
    if (args.zip !== null && (c.zip ?? '').replace(/[^0-9]/g, '').slice(0, 5) !== args.zip)
        return false;
    if (args.vin_last4 !== null) {
        const want = normalizeVin(args.vin_last4);
        const crm = await ctx.crm();
        const vehicles = await crm.listVehicles({ customerId: c.id, signal: ctx.signal });
        if (!vehicles.some((v) => v.vin !== undefined && normalizeVin(v.vin).endsWith(want)))
            return false;
    }
    return true;
}
async function verifiedProfile(ctx, who) {
    const profile = await customerProfile(ctx, who.id, { fresh: true });
    if (!profile)
        throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The account can’t be read right now. Offer to transfer to an advisor.');
    const { customer: c, vehicles } = profile;
    const notes = untrusted(c.notes);
    return {
        verified: true,
        first_name: c.firstName.slice(0, 100),
        vehicles: vehicles.slice(0, 5).map((v) => ({ vehicle_id: v.id, description: describeVehicle(v) })),
        ...(notes ? { crm_notes: notes } : {}),
    };
}
/**
 * verify_customer: the server compares name + second factor against the candidates (caller ID, name search)
 * and, failing those, a fresh search by last name. The answer to a miss is the same whether the name or the
 * factor was wrong, and after MAX_VERIFICATION_ATTEMPTS misses the tool is withdrawn for the call.
 */
const verifyCustomer = defineTool({
    name: 'verify_customer',
    description: "Verify the caller's identity: last name plus the last 4 characters of a VIN on the account or the account ZIP code (at least one). The server checks; you never see account data before this succeeds.",
    access: 'unverified',
    offered: unverifiedAndUnderCap,
    params: {
        first_name: { ...NAME, nullable: true, description: 'First name, or null. Only needed when several accounts share the last name.' },
        last_name: { ...NAME, description: 'Last name on the account.' },
        vin_last4: { type: 'string', nullable: true, maxLength: 4, pattern: '^[A-Za-z0-9]{4}$', description: 'Last 4 characters of the VIN, or null.' },
        zip: { type: 'string', nullable: true, maxLength: 5, pattern: '^[0-9]{5}$', description: '5-digit ZIP code, or null.' },
    },
    async run(ctx, args) {
        if (args.vin_last4 === null && args.zip === null) {
            throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Ask for the last 4 of the VIN or the ZIP code as well.', { fields: ['vin_last4', 'zip'] });
        }
        const { identity } = ctx;
        // Across calls too: a number that keeps failing can't grind through guesses three per call. Withheld
        // numbers have only the per-call cap (one shared bucket would let anyone lock out every withheld caller).
        const throttle = ctx.state && identity.callerPhone ? { state: ctx.state, key: `tools:verify-fail:${identity.tenantId}:${identity.callerPhone}` } : null;
        if (throttle && await throttle.state.get(`${throttle.key}:locked`)) {
            identity.verificationAttempts = MAX_VERIFICATION_ATTEMPTS;
            throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'I can’t verify the account on this call. Offer to transfer to an advisor.');
        }
        const crm = await ctx.crm();
        const [known, byName] = await Promise.all([
            Promise.all(identity.candidateCustomerIds.map((id) => crm.getCustomer({ id, signal: ctx.signal }))),
            crm.findCustomers({ name: args.last_name, limit: MAX_CANDIDATES, signal: ctx.signal }),
        ]);
        const pool = new Map();
        for (const c of [...known, ...byName])
            if (c)
                pool.set(c.id, c);
        const named = [...pool.values()].filter((c) => sameName(c.lastName, args.last_name) && (args.first_name === null || sameName(c.firstName, args.first_name)));
        const matched = [];
        for (const c of named)
            if (await factorsMatch(ctx, c, args))
                matched.push(c);
        if (matched.length > 1) {
            // Only someone who already knows name + factor gets here, so saying "ask for the first name" leaks nothing new.
            if (args.first_name === null)
                throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'More than one account matches. Ask for the first name on the account as well.', { need: 'first_name' });
            // Same person twice in the CRM: prefer the caller-ID match, else refuse rather than guess.
            const preferred = matched.filter((c) => identity.candidateCustomerIds.includes(c.id));
            if (preferred.length !== 1)
                throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'I can’t tell these accounts apart on the phone. Offer to transfer to an advisor.');
            matched.splice(0, matched.length, preferred[0]);
        }
        const who = matched[0];
        if (!who) {
            identity.verificationAttempts += 1;
            if (throttle && await throttle.state.hit(throttle.key, VERIFY_WINDOW_SEC) >= VERIFY_FAILURES_PER_PHONE) {
                await throttle.state.set(`${throttle.key}:locked`, '1', VERIFY_WINDOW_SEC);
            }
            const left = MAX_VERIFICATION_ATTEMPTS - identity.verificationAttempts;
            throw new ToolFailure('VOI_ERR_NOT_VERIFIED', left > 0
                ? 'Those details don’t match an account. Ask the caller to check the spelling or try the other detail.'
                : 'Those details don’t match, and that was the last attempt. Offer to transfer to an advisor.', { attempts_left: Math.max(0, left) });
        }
        const content = await verifiedProfile(ctx, who);
        identity.verifiedCustomerId = who.id;
        identity.candidateCustomerIds = [];
        return { content };
    },
});
/**
 * create_customer: a new caller becomes the verified identity of this call. They just introduced themselves
 * and the record holds only what they told us, so there is nothing pre-existing to disclose; it cannot
 * reach any other customer's data. One per call, and only before any other verification.
 */
const createCustomer = defineTool({
    name: 'create_customer',
    description: 'Create an account for a new customer. Afterwards the caller is identified as that new customer for this call.',
    access: 'unverified',
    offered: (identity) => identity.createdCustomerId === undefined,
    params: {
        first_name: { ...NAME, description: 'First name.' },
        last_name: { ...NAME, description: 'Last name.' },
        phone: { type: 'string', nullable: true, maxLength: 16, pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164 callback number if different from the number they are calling from, else null.' },
        zip: { type: 'string', nullable: true, maxLength: 5, pattern: '^[0-9]{5}$', description: '5-digit ZIP code, or null.' },
    },
    async run(ctx, args) {
        let phone = ctx.identity.callerPhone ?? undefined;
        if (args.phone !== null) {
            try {
                phone = toE164(args.phone);
            }
            catch (e) {
                if (!isServiceLaneError(e))
                    throw e;
                throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'That phone number is not valid. Ask the caller to repeat it with the area code.', { fields: ['phone'] });
            }
        }
        const crm = await ctx.crm();
        const c = await crm.createCustomer({
            firstName: args.first_name, lastName: args.last_name, signal: ctx.signal,
            ...(phone ? { phone } : {}), ...(args.zip !== null ? { zip: args.zip } : {}),
        });
        ctx.identity.verifiedCustomerId = c.id;
        ctx.identity.createdCustomerId = c.id;
        ctx.identity.candidateCustomerIds = [];
        if (phone)
            ctx.phoneCache.delete(phoneCacheKey(ctx, phone));
        rememberProfile(ctx, { customer: c, vehicles: [] });
        return { content: { created: true, verified: true, first_name: c.firstName.slice(0, 100), next_step: 'Ask about their vehicle (VIN, or year, make and model) and call add_vehicle.' } };
    },
});
/** Checks a spoken VIN; a bad check digit usually means a mis-heard character, so the caller is asked to re-read it. */
export function checkVin(raw) {
    const v = isValidVin(raw);
    if (!v.ok) {
        const why = v.reason === 'check_digit' ? 'It doesn’t pass the VIN check.' : v.reason === 'length' ? 'A VIN has 17 characters.' : 'A VIN never contains I, O or Q.';
        throw new ToolFailure('VOI_ERR_INVALID_VIN', `Please re-read the VIN. ${why}`, { reason: v.reason });
    }
    return v.vin;
}
const addVehicle = defineTool({
    name: 'add_vehicle',
    description: "Add a vehicle to the verified caller's account: the VIN, or year, make and model (null for anything unknown).",
    access: 'verified',
    params: {
        vin: { ...VIN_INPUT, nullable: true, description: 'The 17-character VIN, or null.' },
        year: { type: 'integer', nullable: true, minimum: 1950, maximum: 2100, description: 'Model year, or null.' },
        make: { type: 'string', nullable: true, minLength: 1, maxLength: 40, pattern: "^[\\p{L}\\p{N}' .&-]+$", description: 'Make, e.g. Honda, or null.' },
        model: { type: 'string', nullable: true, minLength: 1, maxLength: 40, pattern: "^[\\p{L}\\p{N}' .&/-]+$", description: 'Model, e.g. Civic, or null.' },
    },
    async run(ctx, args) {
        const customerId = ctx.identity.verifiedCustomerId;
        if (!customerId)
            throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
        if (args.vin === null && (args.make === null || args.model === null)) {
            throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Ask for the VIN, or the make and model.', { fields: ['vin', 'make', 'model'] });
        }
        const vin = args.vin === null ? undefined : checkVin(args.vin);
        let { year, make, model } = args;
        if (vin && (year === null || make === null || model === null)) {
            const decoded = await decodeQuietly(ctx, vin);
            year ??= decoded?.year ?? null;
            make ??= decoded?.make ?? null;
            model ??= decoded?.model ?? null;
        }
        const crm = await ctx.crm();
        forgetProfile(ctx, customerId);
        const v = await crm.addVehicle({
            customerId, signal: ctx.signal,
            ...(vin ? { vin } : {}), ...(year !== null ? { year } : {}), ...(make !== null ? { make } : {}), ...(model !== null ? { model } : {}),
        });
        return { content: { added: true, vehicle_id: v.id, description: describeVehicle(v) } };
    },
});
/** Filling in year/make/model is a nicety: a decoder outage must not stop the vehicle being saved. */
async function decodeQuietly(ctx, vin) {
    try {
        const decoder = await ctx.vehicleDecoder();
        return decoder ? await decoder.decodeVin({ vin, signal: ctx.signal }) : null;
    }
    catch (e) {
        ctx.logger.warn({ tenantId: ctx.identity.tenantId, callSid: ctx.identity.callSid, err: e.message }, 'VIN decode for add_vehicle failed; saving without it');
        return null;
    }
}
const getServiceHistory = defineTool({
    name: 'get_service_history',
    description: "The verified caller's recent service visits (newest first).",
    access: 'verified',
    params: {},
    async run(ctx) {
        const customerId = ctx.identity.verifiedCustomerId;
        if (!customerId)
            throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
        const crm = await ctx.crm();
        const records = await crm.getServiceHistory({ customerId, limit: 5, signal: ctx.signal });
        return {
            content: {
                records: records.map((r) => {
                    const details = untrusted(r.description, 200);
                    return {
                        date: inZone(r.performedAt, ctx.config.timezone).setLocale(ctx.config.locale).toFormat('LLLL d, yyyy'),
                        service: r.serviceType.slice(0, 60),
                        ...(r.mileage !== undefined ? { mileage: r.mileage } : {}),
                        ...(details ? { details } : {}),
                    };
                }),
            },
        };
    },
});
const decodeVin = defineTool({
    name: 'decode_vin',
    description: 'Decode a VIN into year, make and model.',
    access: 'always',
    params: { vin: { ...VIN_INPUT, description: 'The 17-character VIN as the caller read it.' } },
    async run(ctx, args) {
        const vin = checkVin(args.vin);
        const decoder = await ctx.vehicleDecoder();
        if (!decoder)
            throw new ToolFailure('PLG_ERR_SLOT_DISABLED', 'I can’t look up VINs right now.');
        const info = await decoder.decodeVin({ vin, signal: ctx.signal });
        if (!info)
            return { content: { decoded: false, message: 'No details were found for that VIN. Ask the caller to confirm it.' } };
        const cap = (s) => (s ? s.slice(0, 60) : null);
        return { content: { decoded: true, year: info.year ?? null, make: cap(info.make), model: cap(info.model), trim: cap(info.trim) } };
    },
});
export const CUSTOMER_TOOLS = [
    lookupCustomer, searchCustomersByName, verifyCustomer, createCustomer, addVehicle, getServiceHistory, decodeVin,
];
//# sourceMappingURL=customer-tools.js.map