import { isValidVin, normalizeVin, type Customer } from '../sdk/index.js';
import { isServiceLaneError } from '../errors.js';
import { toE164 } from '../tenancy/tenants.js';
import { MAX_CANDIDATES, MAX_VERIFICATION_ATTEMPTS, type CallIdentity } from './identity.js';
import { customerProfile, defineTool, describeVehicle, forgetProfile, rememberProfile, sameName, speechLocale, ToolFailure, untrusted, type CompiledTool, type ToolContext } from './define.js';
import { inZone, speakDate } from './time.js';
import { VerificationGuard } from './verification-guard.js';
import { E164_PATTERN } from '../sdk/phone.js';

const NAME = { type: 'string', minLength: 1, maxLength: 100, pattern: "^[\\p{L}\\p{M}' .-]+$" } as const;
const VIN_INPUT = { type: 'string', minLength: 1, maxLength: 32, pattern: '^[A-Za-z0-9 .-]+$' } as const;

/** Key of the caller-ID cache; the config hash is in it so a CRM switch can't serve the old CRM's ids. */
export function phoneCacheKey(ctx: Pick<ToolContext, 'tenant'>, phone: string): string {
  return `${ctx.tenant.id}|${ctx.tenant.configHash}|${phone}`;
}

function addCandidates(identity: CallIdentity, ids: readonly string[]): void {
  const set = new Set(identity.candidateCustomerIds);
  for (const id of ids) if (set.size < MAX_CANDIDATES) set.add(id);
  identity.candidateCustomerIds = [...set];
}

function unverifiedAndUnderCap(identity: CallIdentity): boolean {
  return identity.verificationAttempts < MAX_VERIFICATION_ATTEMPTS;
}

/** Caller-ID candidates, cached briefly: only ids, so a stale entry can at worst miss a brand-new customer. */
async function candidatesForPhone(ctx: ToolContext, phone: string): Promise<string[]> {
  const key = phoneCacheKey(ctx, phone);
  const hit = ctx.phoneCache.get(key);
  if (hit) return hit;
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
    if (!phone) throw new ToolFailure('VOI_ERR_TOOL_UNKNOWN', 'The caller number is not available.');
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
    const found = await crm.findCustomers({ lastName: args.last_name, limit: MAX_CANDIDATES, signal: ctx.signal });
    const matches = found.filter((c) => sameName(c.lastName, args.last_name) && (args.first_name === null || sameName(c.firstName, args.first_name)));
    addCandidates(ctx.identity, matches.map((c) => c.id));
    return { content: { next_step: 'Ask for the last 4 characters of the VIN or the ZIP code on the account, then call verify_customer.' } };
  },
});

interface VerifyArgs { first_name: string | null; last_name: string; vin_last4: string | null; zip: string | null }

/**
 * The most accounts sharing one last name that verification compares against. Beyond it the caller is asked
 * for the first name; if the first name still leaves more, nobody is guessed: the caller is offered an advisor.
 */
export const MAX_NAME_MATCHES = 40;
/** Accounts whose vehicles are read at once when checking a VIN factor (bounded by MAX_NAME_MATCHES in all). */
const VIN_CHECK_BATCH = 5;
/** The strong path's second factor: this many trailing VIN characters (vin_last4 accepts 4 or 6). */
const STRONG_VIN_CHARS = 6;

/**
 * Said for every attempt against an account under attack (and from a locked number), whether or not the details
 * matched: the answer must not be an oracle. It names the one way that still works without a human.
 */
const LOCKED_SPOKEN = 'I can’t verify the caller with these details on the phone right now, and an advisor has been asked to follow up. '
  + 'Offer to transfer to an advisor. Only if the caller is calling from the phone number on their account, they may instead give the last 6 characters of a VIN on the account (pass them as vin_last4).';

/** Every given factor must match: a caller who offers both gets no credit for getting one right. */
async function factorsMatch(ctx: ToolContext, c: Customer, args: VerifyArgs): Promise<boolean> {
  if (args.zip !== null && (c.zip ?? '').replace(/[^0-9]/g, '').slice(0, 5) !== args.zip) return false;
  if (args.vin_last4 !== null) {
    const want = normalizeVin(args.vin_last4);
    const crm = await ctx.crm();
    const vehicles = await crm.listVehicles({ customerId: c.id, signal: ctx.signal });
    if (!vehicles.some((v) => v.vin !== undefined && normalizeVin(v.vin).endsWith(want))) return false;
  }
  return true;
}

async function matching(ctx: ToolContext, candidates: readonly Customer[], args: VerifyArgs): Promise<Customer[]> {
  const out: Customer[] = [];
  for (let i = 0; i < candidates.length; i += VIN_CHECK_BATCH) {
    const batch = candidates.slice(i, i + VIN_CHECK_BATCH);
    const ok = await Promise.all(batch.map((c) => factorsMatch(ctx, c, args)));
    batch.forEach((c, j) => { if (ok[j]) out.push(c); });
  }
  return out;
}

/**
 * The accounts a guess is compared against: this call's candidates (caller ID, name search) and EVERY account
 * whose last name equals the one given, asked of the CRM as an exact match (a prefix search capped at 10 used to
 * miss the 25th Smith). Bounded: more than MAX_NAME_MATCHES asks for the first name, then gives up to a human.
 */
async function namedCandidates(ctx: ToolContext, args: VerifyArgs): Promise<Customer[]> {
  const { identity } = ctx;
  const crm = await ctx.crm();
  const byLastName = (firstName?: string) => crm.findCustomers({ lastName: args.last_name, ...(firstName ? { firstName } : {}), limit: MAX_NAME_MATCHES + 1, signal: ctx.signal });
  const [known, firstTry] = await Promise.all([
    Promise.all(identity.candidateCustomerIds.map((id) => crm.getCustomer({ id, signal: ctx.signal }))),
    byLastName(),
  ]);
  let byName = firstTry;
  if (byName.length > MAX_NAME_MATCHES) {
    // Says only that the surname is common, which the caller can't use to learn anything about one account.
    if (args.first_name === null) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'Many accounts share that last name. Ask for the first name on the account as well, then call verify_customer again.', { need: 'first_name' });
    byName = await byLastName(args.first_name);
    if (byName.length > MAX_NAME_MATCHES) {
      identity.verificationAttempts += 1;
      throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'I can’t tell these accounts apart on the phone. Offer to transfer to an advisor.', { attempts_left: Math.max(0, MAX_VERIFICATION_ATTEMPTS - identity.verificationAttempts) });
    }
  }
  const pool = new Map<string, Customer>();
  for (const c of [...known, ...byName]) if (c) pool.set(c.id, c);
  return [...pool.values()].filter((c) => sameName(c.lastName, args.last_name) && (args.first_name === null || sameName(c.firstName, args.first_name)));
}

async function verifiedProfile(ctx: ToolContext, who: Customer): Promise<Record<string, unknown>> {
  const profile = await customerProfile(ctx, who.id, { fresh: true });
  if (!profile) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The account can’t be read right now. Offer to transfer to an advisor.');
  const { customer: c, vehicles } = profile;
  const notes = untrusted(c.notes);
  return {
    verified: true,
    first_name: c.firstName.slice(0, 100),
    vehicles: vehicles.slice(0, 5).map((v) => ({ vehicle_id: v.id, description: describeVehicle(v) })),
    ...(notes ? { crm_notes: notes } : {}),
  };
}

async function markVerified(ctx: ToolContext, who: Customer): Promise<{ content: Record<string, unknown> }> {
  const content = await verifiedProfile(ctx, who);
  ctx.identity.verifiedCustomerId = who.id;
  ctx.identity.candidateCustomerIds = [];
  return { content };
}

/**
 * A human takes over: one open callback task per targeted account per hour (however often an attacker calls),
 * to the number ON FILE for that account, so an impostor gains nothing from it and the real customer learns
 * someone tried. With no targeted account (a locked caller number), one task per call to the calling number.
 */
async function escalate(ctx: ToolContext, o: { guard: VerificationGuard; targets: readonly Customer[] }): Promise<void> {
  const { identity } = ctx;
  const jobs = o.targets.length > 0
    ? o.targets.slice(0, 5).map((c) => ({ subject: `acct:${c.id}`, task: { reason: 'verification_locked', customerId: c.id, phone: c.phone ?? null } }))
    : [{ subject: `call:${identity.callSid}`, task: { reason: 'verification_locked', customerId: null, phone: identity.callerPhone } }];
  for (const j of jobs) {
    try {
      if (await o.guard.claimEscalation(j.subject)) await ctx.openCallbackTask(j.task);
    } catch (e) {
      // The refusal stands either way; a lost task is logged for the operator, not spoken to the caller.
      ctx.logger.error({ tenantId: identity.tenantId, callSid: identity.callSid, err: (e as Error).message }, 'verification escalation (callback task) could not be stored');
    }
  }
  ctx.logger.warn({ tenantId: identity.tenantId, callSid: identity.callSid, accounts: o.targets.length }, 'verification locked: knowledge factors refused, escalated to an advisor');
}

/**
 * An account under attack, or a locked caller number. Knowledge factors alone are not compared at all. The one
 * way through without a human: the call comes from the number on file for that account AND the caller gives
 * the last 6 of a VIN on it (every other given factor must match too), within that account's strong-path budget.
 * Spoofed caller ID alone never suffices; every other outcome gets LOCKED_SPOKEN, match or not.
 */
async function verifyUnderAttack(ctx: ToolContext, o: { args: VerifyArgs; named: readonly Customer[]; locked: ReadonlySet<string>; guard: VerificationGuard }): Promise<{ content: Record<string, unknown> }> {
  const { identity } = ctx;
  const phone = identity.callerPhone;
  const vin = o.args.vin_last4 === null ? '' : normalizeVin(o.args.vin_last4);
  if (phone !== null && vin.length >= STRONG_VIN_CHARS) {
    const own: Customer[] = [];
    for (const c of o.named) if (c.phone === phone && await o.guard.strongBudgetLeft(c.id)) own.push(c);
    const matched = await matching(ctx, own, o.args);
    if (matched.length === 1) return markVerified(ctx, matched[0]!);
    await Promise.all(own.filter((c) => !matched.includes(c)).map((c) => o.guard.recordStrongFailure(c.id)));
  }
  identity.verificationAttempts += 1;
  const targets = o.named.filter((c) => o.locked.has(c.id));
  await o.guard.recordFailure({ phone, customerIds: targets.map((c) => c.id) });
  await escalate(ctx, { guard: o.guard, targets });
  throw new ToolFailure('VOI_ERR_NOT_VERIFIED', LOCKED_SPOKEN, { escalated: true, attempts_left: Math.max(0, MAX_VERIFICATION_ATTEMPTS - identity.verificationAttempts) });
}

/**
 * verify_customer: the server compares name + second factor against the candidates (caller ID, name search)
 * and every account with that exact last name. The answer to a miss is the same whether the name or the factor
 * was wrong; after MAX_VERIFICATION_ATTEMPTS misses the tool is withdrawn for the call; and misses are counted
 * across calls per caller number and per targeted account (core/tools/verification-guard.ts).
 */
const verifyCustomer = defineTool({
  name: 'verify_customer',
  description: "Verify the caller's identity: last name plus the last 4 characters of a VIN on the account or the account ZIP code (at least one). The server checks; you never see account data before this succeeds.",
  access: 'unverified',
  offered: unverifiedAndUnderCap,
  params: {
    first_name: { ...NAME, nullable: true, description: 'First name, or null. Only needed when several accounts share the last name.' },
    last_name: { ...NAME, description: 'Last name on the account.' },
    vin_last4: { type: 'string', nullable: true, maxLength: 6, pattern: '^[A-Za-z0-9]{4}([A-Za-z0-9]{2})?$', description: 'Last 4 characters of the VIN (the last 6 only when told to ask for them), or null.' },
    zip: { type: 'string', nullable: true, maxLength: 5, pattern: '^[0-9]{5}$', description: '5-digit ZIP code, or null.' },
  },
  async run(ctx, args) {
    if (args.vin_last4 === null && args.zip === null) {
      throw new ToolFailure('VOI_ERR_TOOL_ARGS', 'Ask for the last 4 of the VIN or the ZIP code as well.', { fields: ['vin_last4', 'zip'] });
    }
    const { identity } = ctx;
    // Without a state store (a bare Toolbox) only the per-call cap applies; the platform always passes one.
    const guard = ctx.state ? new VerificationGuard({ state: ctx.state, tenantId: identity.tenantId }) : null;
    const named = await namedCandidates(ctx, args);
    if (guard) {
      const [phoneLocked, locked] = await Promise.all([guard.phoneLocked(identity.callerPhone), guard.accountsLocked(named.map((c) => c.id))]);
      if (phoneLocked || locked.size > 0) return verifyUnderAttack(ctx, { args, named, locked, guard });
    }
    const matched = await matching(ctx, named, args);

    if (matched.length > 1) {
      // Only someone who already knows name + factor gets here, so saying "ask for the first name" leaks nothing new.
      if (args.first_name === null) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'More than one account matches. Ask for the first name on the account as well.', { need: 'first_name' });
      // Same person twice in the CRM: prefer the caller-ID match, else refuse rather than guess.
      const preferred = matched.filter((c) => identity.candidateCustomerIds.includes(c.id));
      if (preferred.length !== 1) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'I can’t tell these accounts apart on the phone. Offer to transfer to an advisor.');
      matched.splice(0, matched.length, preferred[0]!);
    }
    const who = matched[0];
    if (!who) {
      identity.verificationAttempts += 1;
      // Every account this guess was compared against counts the miss, whichever number (or none) it came from.
      await guard?.recordFailure({ phone: identity.callerPhone, customerIds: named.map((c) => c.id) });
      const left = MAX_VERIFICATION_ATTEMPTS - identity.verificationAttempts;
      throw new ToolFailure('VOI_ERR_NOT_VERIFIED', left > 0
        ? 'Those details don’t match an account. Ask the caller to check the spelling or try the other detail.'
        : 'Those details don’t match, and that was the last attempt. Offer to transfer to an advisor.', { attempts_left: Math.max(0, left) });
    }
    return markVerified(ctx, who);
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
    phone: { type: 'string', nullable: true, maxLength: 16, pattern: E164_PATTERN, description: 'E.164 callback number if different from the number they are calling from, else null.' },
    zip: { type: 'string', nullable: true, maxLength: 5, pattern: '^[0-9]{5}$', description: '5-digit ZIP code, or null.' },
  },
  async run(ctx, args) {
    let phone = ctx.identity.callerPhone ?? undefined;
    if (args.phone !== null) {
      try {
        phone = toE164(args.phone);
      } catch (e) {
        if (!isServiceLaneError(e)) throw e;
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
    if (phone) ctx.phoneCache.delete(phoneCacheKey(ctx, phone));
    rememberProfile(ctx, { customer: c, vehicles: [] });
    return { content: { created: true, verified: true, first_name: c.firstName.slice(0, 100), next_step: 'Ask about their vehicle (VIN, or year, make and model) and call add_vehicle.' } };
  },
});

/** Checks a spoken VIN; a bad check digit usually means a mis-heard character, so the caller is asked to re-read it. */
export function checkVin(raw: string): string {
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
    if (!customerId) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
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
async function decodeQuietly(ctx: ToolContext, vin: string): Promise<{ year?: number; make?: string; model?: string } | null> {
  try {
    const decoder = await ctx.vehicleDecoder();
    return decoder ? await decoder.decodeVin({ vin, signal: ctx.signal }) : null;
  } catch (e) {
    ctx.logger.warn({ tenantId: ctx.identity.tenantId, callSid: ctx.identity.callSid, err: (e as Error).message }, 'VIN decode for add_vehicle failed; saving without it');
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
    if (!customerId) throw new ToolFailure('VOI_ERR_NOT_VERIFIED', 'The caller must be verified first.');
    const crm = await ctx.crm();
    const records = await crm.getServiceHistory({ customerId, limit: 5, signal: ctx.signal });
    return {
      content: {
        records: records.map((r) => {
          const details = untrusted(r.description, 200);
          return {
            date: speakDate(inZone(r.performedAt, ctx.config.timezone), speechLocale(ctx)),
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
    if (!decoder) throw new ToolFailure('PLG_ERR_SLOT_DISABLED', 'I can’t look up VINs right now.');
    const info = await decoder.decodeVin({ vin, signal: ctx.signal });
    if (!info) return { content: { decoded: false, message: 'No details were found for that VIN. Ask the caller to confirm it.' } };
    const cap = (s: string | undefined) => (s ? s.slice(0, 60) : null);
    return { content: { decoded: true, year: info.year ?? null, make: cap(info.make), model: cap(info.model), trim: cap(info.trim) } };
  },
});

export const CUSTOMER_TOOLS: readonly CompiledTool[] = [
  lookupCustomer, searchCustomersByName, verifyCustomer, createCustomer, addVehicle, getServiceHistory, decodeVin,
];
