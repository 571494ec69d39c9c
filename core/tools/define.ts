import type { ValidateFunction } from 'ajv';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { CrmConnector, Customer, Vehicle, VehicleDecoder } from '../sdk/index.js';
import type { StateStore } from '../state/store.js';
import type { DealershipConfig } from '../tenancy/config.js';
import type { Tenant } from '../tenancy/tenants.js';
import type { CallIdentity, ReminderCallOutcome } from './identity.js';
import type { TtlCache } from './cache.js';
import { compileArgs } from './schema.js';

/** The appointment fields the tools read (the Scheduler's Appointment DTO has more). */
export interface AppointmentView {
  id: string;
  customerId: string;
  vehicleId?: string | null;
  serviceType: string;
  serviceName?: string;
  start: string | Date;
  status: string;
}

/** A slot as the Scheduler offers it: ISO 8601 with the dealership's offset. */
export interface SlotView { start: string }

/**
 * The Scheduler methods the tools call. Declared here, narrowly, so the tools depend on what they use
 * (core/scheduling/scheduler.ts satisfies it structurally).
 */
export interface SchedulerPort {
  availableSlots(o: { tenantId: string; date: string; serviceType: string; now?: Date; limit?: number }): Promise<SlotView[]>;
  book(o: {
    tenantId: string; customer: { id: string; name: string; phone?: string }; vehicleId?: string; serviceType: string;
    start: string; callSid?: string; idempotencyKey?: string; notes?: string; now?: Date;
  }): Promise<AppointmentView>;
  cancel(o: { tenantId: string; appointmentId: string; reason?: string }): Promise<unknown>;
  reschedule(o: { tenantId: string; appointmentId: string; newStart: string; now?: Date }): Promise<AppointmentView>;
  get(o: { tenantId: string; appointmentId: string }): Promise<AppointmentView | null>;
  upcoming(o: { tenantId: string; customerId: string; now?: Date }): Promise<AppointmentView[]>;
}

/** The registry methods the tools call (core/registry/registry.ts satisfies it structurally). */
export interface PluginsPort {
  get(tenantId: string, slot: 'crm'): Promise<CrmConnector>;
  tryGet(tenantId: string, slot: 'vehicle'): Promise<VehicleDecoder | null>;
}

/**
 * A refusal the model hears: a stable code and a short sentence that is safe to speak (no ids, no PII,
 * no echo of the arguments). `extra` carries structured help such as alternative slots.
 */
export class ToolFailure extends Error {
  constructor(readonly code: ErrorCode, readonly spoken: string, readonly extra?: Record<string, unknown>) {
    super(spoken);
    this.name = 'ToolFailure';
  }
}

/** Everything a tool handler may touch. `identity` is this call's working copy; the toolbox returns it. */
export interface ToolContext {
  identity: CallIdentity;
  tenant: Tenant;
  config: DealershipConfig;
  now: Date;
  signal?: AbortSignal;
  logger: Logger;
  crm(): Promise<CrmConnector>;
  vehicleDecoder(): Promise<VehicleDecoder | null>;
  scheduler: SchedulerPort;
  state?: StateStore;
  /**
   * The writes of an outbound reminder call, bound to its attempt (core/outbound/answered-reminder.ts); null on
   * every other call. Both are no-ops for the outcome once one was written (it is written once per attempt).
   */
  reminderCall: ReminderCallPort | null;
  /** Opens a task for a human advisor (callback_tasks), linked to this call. */
  openCallbackTask(t: { reason: string; customerId: string | null; phone: string | null }): Promise<void>;
  /** `${tenantId}|${configHash}|${phone}` → candidate customer ids (ids only, never PII). */
  phoneCache: TtlCache<string[]>;
  /** `${tenantId}|${configHash}|${customerId}` → the verified caller's record and vehicles (see customerProfile). */
  profileCache: TtlCache<CustomerProfile>;
}

/**
 * The locale dates and times are spoken in: the call's language when it is not English (a Spanish call hears
 * "martes 10 de marzo"), otherwise the dealership's own English locale.
 */
export function speechLocale(ctx: Pick<ToolContext, 'identity' | 'config'>): string {
  const lang = ctx.identity.language;
  return lang && lang !== 'en' ? lang : ctx.config.locale;
}

/** What the account tools need about the verified caller, read once per call instead of once per tool. */
export interface CustomerProfile { customer: Customer; vehicles: Vehicle[] }

function profileKey(ctx: Pick<ToolContext, 'tenant'>, customerId: string): string {
  return `${ctx.tenant.id}|${ctx.tenant.configHash}|${customerId}`;
}

/**
 * The customer's record and vehicles. `fresh` (verification) always reads the CRM and refreshes the cache;
 * later tools in the call reuse it for a short TTL. Only the customer's own data is cached, under their id,
 * and add_vehicle drops the entry, so the ownership checks never see a vehicle list older than this call's own changes.
 */
export async function customerProfile(ctx: ToolContext, customerId: string, o: { fresh?: boolean } = {}): Promise<CustomerProfile | null> {
  const key = profileKey(ctx, customerId);
  if (!o.fresh) {
    const hit = ctx.profileCache.get(key);
    if (hit) return hit;
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

export function rememberProfile(ctx: Pick<ToolContext, 'tenant' | 'profileCache'>, profile: CustomerProfile): void {
  ctx.profileCache.set(profileKey(ctx, profile.customer.id), profile);
}

export function forgetProfile(ctx: Pick<ToolContext, 'tenant' | 'profileCache'>, customerId: string): void {
  ctx.profileCache.delete(profileKey(ctx, customerId));
}

/** See ToolContext.reminderCall. */
export interface ReminderCallPort {
  /** True when this call wrote the attempt's outcome, false when one was already recorded. */
  recordOutcome(outcome: ReminderCallOutcome): Promise<boolean>;
  /** Records the dialled number's opt-out, and the outcome `opted_out` unless one was already recorded. */
  optOut(): Promise<{ outcomeWritten: boolean }>;
}

export interface ToolResult {
  content: Record<string, unknown>;
  control?: 'transfer' | 'end';
}

/**
 * When a tool is offered: `always`, only before verification, or only to a verified caller. `offered`
 * narrows further (e.g. lookup_customer needs a caller number).
 */
export type ToolAccess = 'always' | 'unverified' | 'verified';

/**
 * Whether a tool exists on an outbound reminder call (identity.reminder set). Unset: inbound only (the account
 * tools take ids the model names; a reminder call acts on its one appointment only). `also`: on both kinds of call,
 * with the same `access` rule. `only`: reminder calls only (the reminder tools).
 */
export type ReminderCallUse = 'also' | 'only';

/**
 * One argument. Every argument is required (OpenAI strict mode); "unknown" is `nullable` + null. The
 * constraints are enforced by ajv server-side; the model sees only type, enum and description.
 */
export type ParamSpec =
  | { type: 'string'; description: string; nullable?: boolean; minLength?: number; maxLength: number; pattern?: string; format?: 'date' }
  | { type: 'integer'; description: string; nullable?: boolean; minimum: number; maximum: number };

/** The argument object a parameter table describes, so schema and handler types can't drift. */
export type ArgsOf<P extends Record<string, ParamSpec>> = {
  -readonly [K in keyof P]: (P[K]['type'] extends 'integer' ? number : string) | (P[K]['nullable'] extends true ? null : never);
};

export interface ToolDef<P extends Record<string, ParamSpec>> {
  name: string;
  description: string;
  access: ToolAccess;
  reminderCall?: ReminderCallUse;
  offered?: (identity: CallIdentity) => boolean;
  params: P;
  run(ctx: ToolContext, args: ArgsOf<P>): Promise<ToolResult>;
}

/** A tool with its validator compiled once, its argument type erased for the heterogeneous catalog. */
export interface CompiledTool {
  name: string;
  description: string;
  access: ToolAccess;
  reminderCall?: ReminderCallUse;
  offered: (identity: CallIdentity) => boolean;
  /** The full ajv schema (constraints included). */
  schema: Record<string, unknown>;
  validate: ValidateFunction;
  run(ctx: ToolContext, args: unknown): Promise<ToolResult>;
}

/** The ajv schema for a parameter table: closed object, every property required. */
export function argsSchema(params: Record<string, ParamSpec>): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    required: Object.keys(params),
    properties: Object.fromEntries(Object.entries(params).map(([k, p]) => [k, { ...p }])),
  };
}

export function defineTool<const P extends Record<string, ParamSpec>>(d: ToolDef<P>): CompiledTool {
  const schema = argsSchema(d.params);
  const validate = compileArgs(schema);
  return {
    name: d.name,
    description: d.description,
    access: d.access,
    ...(d.reminderCall ? { reminderCall: d.reminderCall } : {}),
    offered: d.offered ?? (() => true),
    schema,
    validate,
    // `validate` has proven `args` matches the table before run is reached (Toolbox.execute).
    run: (ctx, args) => d.run(ctx, args as ArgsOf<P>),
  };
}

/** Text from a CRM or vendor, quoted to the model as data, never as instructions (tenancy-security §4). */
export function untrusted(text: string | undefined | null, max = 300): { note_from_crm_untrusted: string } | undefined {
  if (!text) return undefined;
  // Collapse whitespace so a planted "\n\nassistant:" can't pose as a new turn in a transcript view.
  const clean = text.replace(/\s+/g, ' ').trim().slice(0, max);
  return clean ? { note_from_crm_untrusted: clean } : undefined;
}

/** A short vehicle description from CRM fields ("2019 Honda Civic"), length-capped. */
export function describeVehicle(v: { year?: number; make?: string; model?: string }): string {
  return [v.year, v.make, v.model].filter((x) => x !== undefined && x !== '').join(' ').replace(/\s+/g, ' ').slice(0, 60) || 'vehicle';
}

/** Case-, accent- and punctuation-insensitive name equality ("O'Brien" = "obrien", "José" = "jose"). */
export function sameName(a: string, b: string): boolean {
  const norm = (s: string) => s.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
  const x = norm(a);
  return x.length > 0 && x === norm(b);
}
