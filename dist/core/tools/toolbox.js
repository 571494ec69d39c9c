import { isServiceLaneError } from '../errors.js';
import { metrics } from '../observability/metrics.js';
import { isPluginError } from '../sdk/index.js';
import { APPOINTMENT_TOOLS } from './appointment-tools.js';
import { TtlCache } from './cache.js';
import { CALL_TOOLS } from './call-tools.js';
import { CUSTOMER_TOOLS } from './customer-tools.js';
import { ToolFailure } from './define.js';
import { callState } from './identity.js';
import { describeArgErrors, toModelSchema } from './schema.js';
/** Tool arguments bigger than this are refused before JSON.parse; no legitimate call comes close. */
const MAX_ARGUMENTS_CHARS = 16_384;
const PHONE_CACHE_TTL_MS = 30_000;
const PROFILE_CACHE_TTL_MS = 120_000;
/** Catalog order is the order the model sees: call-control last, so it isn't the first thing it reaches for. */
const CATALOG = [...CUSTOMER_TOOLS, ...APPOINTMENT_TOOLS, ...CALL_TOOLS];
/** Every tool name the toolbox knows (not all are offered in every state). */
export const TOOL_NAMES = CATALOG.map((t) => t.name);
function isOffered(tool, identity) {
    const state = callState(identity);
    if (tool.access === 'verified' && state !== 'verified')
        return false;
    if (tool.access === 'unverified' && state !== 'unverified')
        return false;
    return tool.offered(identity);
}
const UNREACHABLE = 'I can’t reach our system right now. Offer to take a message or transfer to an advisor.';
function spokenForCategory(category) {
    switch (category) {
        case 'conflict': return 'That is already on file. An advisor can help with it.';
        case 'invalid_request': return 'Those details weren’t accepted. Check them with the caller.';
        case 'not_found': return 'I couldn’t find that.';
        default: return UNREACHABLE;
    }
}
const BOOKING_INVALID_SPOKEN = {
    not_a_slot: 'That isn’t one of the offered times. Use get_available_slots and offer one of those.',
    closed: 'The dealership is closed that day. Offer another day.',
    past: 'That time has already passed.',
    beyond_horizon: 'That is too far ahead to book.',
    service_type: 'Unknown service type.',
};
/** Anything a handler threw → a coded refusal the model can speak. Nothing here rethrows. */
function toFailure(e, signal) {
    if (e instanceof ToolFailure)
        return { code: e.code, spoken: e.spoken, extra: e.extra };
    if (signal?.aborted)
        return { code: 'VOI_ERR_TOOL_FAILED', spoken: 'Cancelled.' };
    if (isServiceLaneError(e)) {
        const details = (e.details ?? {});
        switch (e.code) {
            case 'VOI_ERR_BOOKING_INVALID':
                return { code: 'VOI_ERR_TOOL_ARGS', spoken: BOOKING_INVALID_SPOKEN[details.reason ?? ''] ?? 'That booking request isn’t valid. Check the date, time and service.', extra: { reason: details.reason } };
            case 'VOI_ERR_APPOINTMENT_NOT_FOUND':
                return { code: 'VOI_ERR_NOT_OWNED', spoken: 'I can’t find that appointment on this caller’s account.' };
            case 'VOI_ERR_APPOINTMENT_STATE':
                return { code: e.code, spoken: 'That appointment is already cancelled or completed, so it can’t be changed.' };
            case 'VOI_ERR_SLOT_TAKEN':
                return { code: e.code, spoken: 'That time was just taken. Offer another time.' };
            default:
                if (e.code.startsWith('PLG_'))
                    return { code: e.code, spoken: spokenForCategory(details.category) };
                if (e.code.startsWith('VOI_'))
                    return { code: e.code, spoken: UNREACHABLE };
                return { code: e.code, spoken: UNREACHABLE, unexpected: e.code.startsWith('TEN_') ? undefined : e };
        }
    }
    if (isPluginError(e)) {
        return { code: e.category === 'timeout' ? 'PLG_ERR_TIMEOUT' : 'PLG_ERR_CALL_FAILED', spoken: spokenForCategory(e.category), extra: { category: e.category } };
    }
    return { code: 'VOI_ERR_TOOL_FAILED', spoken: UNREACHABLE, unexpected: e };
}
/**
 * The agent's tools, bound to a call's server-side identity. The voice session asks `schemasFor` what to
 * offer in the current state and hands every model tool call to `execute`, which validates before touching
 * anything, enforces state and ownership, and always resolves (never throws into the conversation).
 */
export class Toolbox {
    o;
    byName = new Map(CATALOG.map((t) => [t.name, t]));
    phoneCache;
    profileCache;
    schemaCache = new Map();
    constructor(o) {
        this.o = o;
        this.phoneCache = new TtlCache({ ttlMs: o.phoneCacheTtlMs ?? PHONE_CACHE_TTL_MS, maxEntries: 10_000 });
        this.profileCache = new TtlCache({ ttlMs: o.profileCacheTtlMs ?? PROFILE_CACHE_TTL_MS, maxEntries: 5_000 });
    }
    /** Names of the tools offered in this call state, in catalog order. */
    offeredTools(identity) {
        return CATALOG.filter((t) => isOffered(t, identity)).map((t) => t.name);
    }
    /**
     * OpenAI function schemas for this call state (strict-mode shaped: all fields required, nullable as a
     * `null` type, no extra properties). Pass the tenant's service types to get them as an enum.
     */
    schemasFor(identity, o = {}) {
        const offered = CATALOG.filter((t) => isOffered(t, identity));
        const ids = o.serviceTypes?.map((s) => s.id);
        // Asked for every model turn: the answer only depends on the offered set and the enum, so reuse it.
        const key = `${offered.map((t) => t.name).join(',')}|${ids?.join(',') ?? ''}`;
        let schemas = this.schemaCache.get(key);
        if (!schemas) {
            const enums = ids ? { service_type: ids } : undefined;
            schemas = offered.map((t) => ({ name: t.name, description: t.description, parameters: toModelSchema(t.schema, { enums }) }));
            if (this.schemaCache.size > 1_000)
                this.schemaCache.clear();
            this.schemaCache.set(key, schemas);
        }
        // Callers (LLM plugins) may annotate what they get; hand out copies of the shared objects.
        return structuredClone(schemas);
    }
    /** Forgets cached caller-ID lookups and caller profiles for a tenant (call after a bulk CRM import or a config change). */
    invalidateTenant(tenantId) {
        this.phoneCache.deletePrefix(`${tenantId}|`);
        this.profileCache.deletePrefix(`${tenantId}|`);
    }
    async execute(identity, call, opts = {}) {
        const t0 = performance.now();
        const working = structuredClone(identity);
        const tool = this.byName.get(call.name);
        const toolLabel = tool ? tool.name : 'unknown';
        let args;
        let outcome;
        try {
            if (!tool)
                throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', 'There is no such tool. Use only the tools offered.');
            if (!isOffered(tool, working)) {
                throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', tool.access === 'verified' && callState(working) === 'unverified'
                    ? 'That isn’t available until the caller is verified.'
                    : 'That isn’t available at this point in the call.');
            }
            args = parseArguments(call.arguments);
            if (!tool.validate(args)) {
                const { fields, message } = describeArgErrors(tool.validate.errors);
                throw new ToolFailure('VOI_ERR_TOOL_ARGS', `Invalid arguments: ${message}.`, { fields });
            }
            opts.signal?.throwIfAborted();
            // The tenant is loaded after validation, so bad arguments never cost a lookup.
            const tenant = await this.o.tenants.getActive(working.tenantId);
            const result = await tool.run(this.context(working, tenant, opts), args);
            outcome = { ok: true, content: JSON.stringify(result.content), identity: working, ...(result.control ? { control: result.control } : {}) };
        }
        catch (e) {
            const f = toFailure(e, opts.signal);
            if (f.unexpected !== undefined) {
                const err = f.unexpected;
                this.o.logger.error({ tenantId: working.tenantId, callSid: working.callSid, tool: toolLabel, err: err?.message, stack: err?.stack }, 'tool failed unexpectedly');
            }
            outcome = { ok: false, code: f.code, content: JSON.stringify({ error: f.code, message: f.spoken, ...f.extra }), identity: working };
        }
        const ms = performance.now() - t0;
        const label = outcome.ok ? 'ok' : outcome.code ?? 'error';
        metrics.toolCalls.observe({ tool: toolLabel, outcome: label }, ms / 1000);
        this.o.logger.info({
            tenantId: working.tenantId, callSid: working.callSid, tool: toolLabel, outcome: label, ms: Math.round(ms * 10) / 10,
            verified: working.verifiedCustomerId !== null,
            pii: { name: tool ? undefined : String(call.name).slice(0, 64), args: (args === undefined ? String(call.arguments) : JSON.stringify(args)).slice(0, 500) },
        }, 'tool call');
        return outcome;
    }
    context(identity, tenant, opts) {
        const { registry, scheduler, logger, state } = this.o;
        if (!tenant.config)
            throw new ToolFailure('TEN_ERR_CONFIG_INVALID', UNREACHABLE);
        let crm;
        let vehicle;
        return {
            identity, tenant, config: tenant.config, now: opts.now ?? new Date(), signal: opts.signal, logger, scheduler, state,
            phoneCache: this.phoneCache, profileCache: this.profileCache,
            crm: () => (crm ??= registry.get(identity.tenantId, 'crm')),
            vehicleDecoder: () => (vehicle ??= registry.tryGet(identity.tenantId, 'vehicle')),
        };
    }
}
/** JSON.parse, guarded: empty means no arguments; anything but a plain object is refused. */
function parseArguments(raw) {
    if (typeof raw !== 'string')
        throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments must be a JSON object.');
    if (raw.length > MAX_ARGUMENTS_CHARS)
        throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments are too long.');
    if (raw.trim() === '')
        return {};
    let v;
    try {
        v = JSON.parse(raw);
    }
    catch {
        throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments are not valid JSON. Send a JSON object.');
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v))
        throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments must be a JSON object.');
    return v;
}
//# sourceMappingURL=toolbox.js.map