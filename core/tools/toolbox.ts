import { isServiceLaneError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { isPluginError, type CrmConnector, type ErrorCategory, type ToolSchema, type VehicleDecoder } from '../sdk/index.js';
import type { StateStore } from '../state/store.js';
import type { ServiceType } from '../tenancy/config.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';
import { APPOINTMENT_TOOLS } from './appointment-tools.js';
import { TtlCache } from './cache.js';
import { CALL_TOOLS } from './call-tools.js';
import { VOICEMAIL_TOOLS } from './voicemail-tools.js';
import { insertCallbackTask } from './callback-tasks.js';
import { CUSTOMER_TOOLS } from './customer-tools.js';
import { REMINDER_TOOLS } from './reminder-tools.js';
import { ToolFailure, type CompiledTool, type CustomerProfile, type PluginsPort, type ReminderCallPort, type SchedulerPort, type ToolContext, type ToolResult } from './define.js';
import { callState, type CallIdentity, type ReminderCallFacts } from './identity.js';
import { describeArgErrors, toModelSchema } from './schema.js';

/** What one tool call produced. `content` is short JSON for the model; `identity` replaces the caller's copy. */
export interface ToolOutcome {
  ok: boolean;
  content: string;
  code?: ErrorCode;
  identity: CallIdentity;
  control?: 'transfer' | 'end';
}

/** A tool call as the model emitted it: the name and the raw JSON argument string. */
export interface ToolCallRequest { name: string; arguments: string }

export interface ToolboxOptions {
  tenants: TenantService;
  registry: PluginsPort;
  scheduler: SchedulerPort;
  logger: Logger;
  /** Enables the cross-call verification limits (per caller number and per targeted account; verification-guard.ts). */
  state?: StateStore;
  /** Caller-ID → candidate ids cache TTL; 0 disables it. */
  phoneCacheTtlMs?: number;
  /** Verified caller's record + vehicles cache TTL (reused by later tools in the call); 0 disables it. */
  profileCacheTtlMs?: number;
  /**
   * The writes a reminder call's tools make, bound to one attempt (core/outbound/answered-reminder.ts provides
   * them; the composition root wires it). Without it a reminder call's tools have no port and refuse to write.
   */
  reminderCalls?: { port(o: { tenantId: string; reminder: ReminderCallFacts }): ReminderCallPort };
}

/** Tool arguments bigger than this are refused before JSON.parse; no legitimate call comes close. */
const MAX_ARGUMENTS_CHARS = 16_384;
const PHONE_CACHE_TTL_MS = 30_000;
const PROFILE_CACHE_TTL_MS = 120_000;

/** Catalog order is the order the model sees: call-control last, so it isn't the first thing it reaches for. */
const CATALOG: readonly CompiledTool[] = [...CUSTOMER_TOOLS, ...APPOINTMENT_TOOLS, ...REMINDER_TOOLS, ...CALL_TOOLS, ...VOICEMAIL_TOOLS];

/** Every tool name the toolbox knows (not all are offered in every state). */
export const TOOL_NAMES: readonly string[] = CATALOG.map((t) => t.name);

function isOffered(tool: CompiledTool, identity: CallIdentity): boolean {
  // A reminder call acts on its one appointment: the inbound account tools (which take ids) do not exist there.
  if (identity.reminder ? tool.reminderCall === undefined : tool.reminderCall === 'only') return false;
  const state = callState(identity);
  if (tool.access === 'verified' && state !== 'verified') return false;
  if (tool.access === 'unverified' && state !== 'unverified') return false;
  return tool.offered(identity);
}

const UNREACHABLE = 'I can’t reach our system right now. Offer to take a message or transfer to an advisor.';

function spokenForCategory(category: ErrorCategory | undefined): string {
  switch (category) {
    case 'conflict': return 'That is already on file. An advisor can help with it.';
    case 'invalid_request': return 'Those details weren’t accepted. Check them with the caller.';
    case 'not_found': return 'I couldn’t find that.';
    default: return UNREACHABLE;
  }
}

const BOOKING_INVALID_SPOKEN: Record<string, string> = {
  not_a_slot: 'That isn’t one of the offered times. Use get_available_slots and offer one of those.',
  closed: 'The dealership is closed that day. Offer another day.',
  past: 'That time has already passed.',
  beyond_horizon: 'That is too far ahead to book.',
  service_type: 'Unknown service type.',
};

interface Failure { code: ErrorCode; spoken: string; extra?: Record<string, unknown>; unexpected?: unknown }

/** Anything a handler threw → a coded refusal the model can speak. Nothing here rethrows. */
function toFailure(e: unknown, signal: AbortSignal | undefined): Failure {
  if (e instanceof ToolFailure) return { code: e.code, spoken: e.spoken, extra: e.extra };
  if (signal?.aborted) return { code: 'VOI_ERR_TOOL_FAILED', spoken: 'Cancelled.' };
  if (isServiceLaneError(e)) {
    const details = (e.details ?? {}) as { reason?: string; category?: ErrorCategory };
    switch (e.code) {
      case 'VOI_ERR_BOOKING_INVALID':
        return { code: 'VOI_ERR_TOOL_ARGS', spoken: BOOKING_INVALID_SPOKEN[details.reason ?? ''] ?? 'That booking request isn’t valid. Check the date, time and service.', extra: { reason: details.reason } };
      case 'VOI_ERR_APPOINTMENT_NOT_FOUND':
        return { code: 'VOI_ERR_NOT_OWNED', spoken: 'I can’t find that appointment on this caller’s account.' };
      case 'VOI_ERR_APPOINTMENT_STATE':
        return { code: e.code, spoken: 'That appointment is already cancelled or completed, so it can’t be changed.' };
      case 'VOI_ERR_SLOT_TAKEN':
        return { code: e.code, spoken: 'That time was just taken. Offer another time.' };
      case 'VOI_ERR_BOOKING_OVERLAP':
        return {
          code: e.code,
          spoken: (details as { subject?: string }).subject === 'vehicle'
            ? 'That vehicle already has an appointment at that time. Offer another time, or move the existing appointment.'
            : 'The caller already has an appointment at that time. Offer another time, or move the existing appointment.',
        };
      default:
        if (e.code.startsWith('PLG_')) return { code: e.code, spoken: spokenForCategory(details.category) };
        if (e.code.startsWith('VOI_')) return { code: e.code, spoken: UNREACHABLE };
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
  private readonly byName = new Map(CATALOG.map((t) => [t.name, t]));
  private readonly phoneCache: TtlCache<string[]>;
  private readonly profileCache: TtlCache<CustomerProfile>;
  private readonly schemaCache = new Map<string, ToolSchema[]>();

  constructor(private readonly o: ToolboxOptions) {
    this.phoneCache = new TtlCache({ ttlMs: o.phoneCacheTtlMs ?? PHONE_CACHE_TTL_MS, maxEntries: 10_000 });
    this.profileCache = new TtlCache({ ttlMs: o.profileCacheTtlMs ?? PROFILE_CACHE_TTL_MS, maxEntries: 5_000 });
  }

  /** Names of the tools offered in this call state, in catalog order. */
  offeredTools(identity: CallIdentity): string[] {
    return CATALOG.filter((t) => isOffered(t, identity)).map((t) => t.name);
  }

  /**
   * OpenAI function schemas for this call state (strict-mode shaped: all fields required, nullable as a
   * `null` type, no extra properties). Pass the tenant's service types to get them as an enum.
   */
  schemasFor(identity: CallIdentity, o: { serviceTypes?: readonly Pick<ServiceType, 'id'>[] } = {}): ToolSchema[] {
    const offered = CATALOG.filter((t) => isOffered(t, identity));
    const ids = o.serviceTypes?.map((s) => s.id);
    // Asked for every model turn: the answer only depends on the offered set and the enum, so reuse it.
    const key = `${offered.map((t) => t.name).join(',')}|${ids?.join(',') ?? ''}`;
    let schemas = this.schemaCache.get(key);
    if (!schemas) {
      const enums = ids ? { service_type: ids } : undefined;
      schemas = offered.map((t) => ({ name: t.name, description: t.description, parameters: toModelSchema(t.schema, { enums }) }));
      if (this.schemaCache.size > 1_000) this.schemaCache.clear();
      this.schemaCache.set(key, schemas);
    }
    // Callers (LLM plugins) may annotate what they get; hand out copies of the shared objects.
    return structuredClone(schemas);
  }

  /** Forgets cached caller-ID lookups and caller profiles for a tenant (call after a bulk CRM import or a config change). */
  invalidateTenant(tenantId: string): void {
    this.phoneCache.deletePrefix(`${tenantId}|`);
    this.profileCache.deletePrefix(`${tenantId}|`);
  }

  async execute(identity: CallIdentity, call: ToolCallRequest, opts: { signal?: AbortSignal; now?: Date } = {}): Promise<ToolOutcome> {
    const t0 = performance.now();
    const working: CallIdentity = structuredClone(identity);
    const tool = this.byName.get(call.name);
    const toolLabel = tool ? tool.name : 'unknown';
    let args: unknown;
    let outcome: ToolOutcome;
    try {
      if (!tool) throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', 'There is no such tool. Use only the tools offered.');
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
    } catch (e) {
      const f = toFailure(e, opts.signal);
      if (f.unexpected !== undefined) {
        const err = f.unexpected as Error;
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

  private context(identity: CallIdentity, tenant: Tenant, opts: { signal?: AbortSignal; now?: Date }): ToolContext {
    const { registry, scheduler, logger, state } = this.o;
    if (!tenant.config) throw new ToolFailure('TEN_ERR_CONFIG_INVALID', UNREACHABLE);
    let crm: Promise<CrmConnector> | undefined;
    let vehicle: Promise<VehicleDecoder | null> | undefined;
    return {
      identity, tenant, config: tenant.config, now: opts.now ?? new Date(), signal: opts.signal, logger, scheduler, state,
      phoneCache: this.phoneCache, profileCache: this.profileCache,
      reminderCall: this.reminderPort(identity),
      openCallbackTask: (t) => this.o.tenants.withTenant(identity.tenantId, (trx) => insertCallbackTask(trx, { ...t, callSid: identity.callSid })),
      crm: () => (crm ??= registry.get(identity.tenantId, 'crm')),
      vehicleDecoder: () => (vehicle ??= registry.tryGet(identity.tenantId, 'vehicle')),
    };
  }

  /** The reminder tools' writes, bound to this call's attempt (identity.reminder is a server-side fact). */
  private reminderPort(identity: CallIdentity): ReminderCallPort | null {
    const reminder = identity.reminder;
    return reminder && this.o.reminderCalls ? this.o.reminderCalls.port({ tenantId: identity.tenantId, reminder }) : null;
  }
}

/** JSON.parse, guarded: empty means no arguments; anything but a plain object is refused. */
function parseArguments(raw: string): unknown {
  if (typeof raw !== 'string') throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments must be a JSON object.');
  if (raw.length > MAX_ARGUMENTS_CHARS) throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments are too long.');
  if (raw.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments are not valid JSON. Send a JSON object.');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Arguments must be a JSON object.');
  return v;
}

/** Handler result type, re-exported for tests that build custom tools. */
export type { ToolResult };
