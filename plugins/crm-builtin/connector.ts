import {
  normalizeVin, isValidVin, isE164, PluginError, parseIsoInstant,
  type BuiltinCrmData, type CallOptions, type CrmConnector, type Customer, type PluginContext, type ServiceRecord, type Vehicle,
} from '../../core/sdk/index.js';
import { PROVIDER, clampLimit, invalid, isUuid, mapDbError } from './db.js';

const ZIP_RE = /^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;
const SUMMARY_MAX = 8000;
const OUTCOMES = new Set(['booked', 'cancelled', 'rescheduled', 'info', 'transferred', 'callback', 'voicemail', 'other']);

function personName(raw: string, field: string): string {
  const v = raw.trim().replace(/\s+/g, ' ');
  if (v.length < 1 || v.length > 100) throw invalid(`${field} must be 1-100 characters`);
  return v;
}

function optionalInt(v: number | undefined, o: { field: string; min: number; max: number }): number | null {
  if (v === undefined) return null;
  if (!Number.isInteger(v) || v < o.min || v > o.max) throw invalid(`${o.field} must be an integer between ${o.min} and ${o.max}`);
  return v;
}

function optionalText(v: string | undefined, o: { field: string; max: number }): string | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (t.length === 0) return null;
  if (t.length > o.max) throw invalid(`${o.field} must be at most ${o.max} characters`);
  return t;
}

/** The tenant data core grants this plugin; a context without it (a misconfigured host) fails loudly and typed. */
export function builtinCrmData(ctx: PluginContext): BuiltinCrmData {
  const data = ctx.tenantData?.crm;
  if (!data) throw new PluginError('forbidden', 'crm-builtin needs core\'s tenant data access (ctx.tenantData), which this host did not grant', { provider: PROVIDER });
  return data;
}

/**
 * The built-in CRM: customers, vehicles and service history in the tenant's own schema, read and written
 * through core's repository (ctx.tenantData.crm). Every method validates its input before touching the
 * database, so a bad argument never costs a query.
 */
export function createBuiltinCrm(ctx: PluginContext): CrmConnector {
  const data = builtinCrmData(ctx);
  /** One repository call; the abort check comes first so a cancelled turn costs nothing. */
  async function run<T>(signal: AbortSignal | undefined, fn: (d: BuiltinCrmData) => Promise<T>): Promise<T> {
    try {
      signal?.throwIfAborted();
      return await fn(data);
    } catch (e) {
      throw mapDbError(e);
    }
  }

  return {
    async findCustomers(o: CallOptions & { phone?: string; name?: string; lastName?: string; firstName?: string; limit?: number }): Promise<Customer[]> {
      const limit = clampLimit(o.limit, { dflt: 10, max: 50 });
      if (o.phone === undefined && o.name === undefined && o.lastName === undefined) throw invalid('findCustomers needs a phone, a name or a lastName');
      if (o.firstName !== undefined && o.lastName === undefined) throw invalid('firstName only narrows a lastName search');
      if (o.phone !== undefined && !isE164(o.phone)) throw invalid('phone must be E.164');
      let namePrefix: string | undefined;
      if (o.name !== undefined) {
        namePrefix = o.name.trim().replace(/\s+/g, ' ').toLowerCase();
        if (namePrefix.length < 1 || namePrefix.length > 100) throw invalid('name must be 1-100 characters');
      }
      const exact = (v: string | undefined, field: string): string | undefined => {
        if (v === undefined) return undefined;
        const t = v.trim().replace(/\s+/g, ' ').toLowerCase();
        if (t.length < 1 || t.length > 100) throw invalid(`${field} must be 1-100 characters`);
        return t;
      };
      const lastName = exact(o.lastName, 'lastName');
      const firstName = exact(o.firstName, 'firstName');
      return run(o.signal, (d) => d.findCustomers({ phone: o.phone, namePrefix, lastName, firstName, limit }));
    },

    async getCustomer(o: CallOptions & { id: string }): Promise<Customer | null> {
      if (!isUuid(o.id)) return null;
      return run(o.signal, (d) => d.getCustomer(o.id));
    },

    async createCustomer(o): Promise<Customer> {
      const firstName = personName(o.firstName, 'firstName');
      const lastName = personName(o.lastName, 'lastName');
      if (o.phone !== undefined && !isE164(o.phone)) throw invalid('phone must be E.164');
      const email = optionalText(o.email, { field: 'email', max: 254 });
      if (email !== null && !EMAIL_RE.test(email)) throw invalid('email is not valid');
      const zip = optionalText(o.zip, { field: 'zip', max: 10 });
      if (zip !== null && !ZIP_RE.test(zip)) throw invalid('zip is not valid');
      return run(o.signal, (d) => d.createCustomer({ firstName, lastName, phone: o.phone ?? null, email, zip }));
    },

    async listVehicles(o: CallOptions & { customerId: string }): Promise<Vehicle[]> {
      if (!isUuid(o.customerId)) return [];
      return run(o.signal, (d) => d.listVehicles(o.customerId));
    },

    async addVehicle(o): Promise<Vehicle> {
      if (!isUuid(o.customerId)) throw new PluginError('not_found', 'customer not found', { provider: PROVIDER });
      let vin: string | null = null;
      if (o.vin !== undefined) {
        const check = isValidVin(o.vin);
        // Storage only needs the shape; a check-digit mismatch is legitimate on many non-North-American VINs,
        // and core has already asked the caller to confirm it.
        if (!check.ok && check.reason !== 'check_digit') throw invalid('vin must be 17 characters without I, O or Q');
        vin = normalizeVin(o.vin);
      }
      const year = optionalInt(o.year, { field: 'year', min: 1950, max: 2100 });
      const mileage = optionalInt(o.mileage, { field: 'mileage', min: 0, max: 2_000_000 });
      const make = optionalText(o.make, { field: 'make', max: 60 });
      const model = optionalText(o.model, { field: 'model', max: 60 });
      // The foreign key answers "unknown customer" (23503 → not_found) and the unique VIN index answers
      // "already registered" (23505 → conflict) in the same statement, so there is no check-then-insert race.
      return run(o.signal, (d) => d.addVehicle({ customerId: o.customerId, vin, year, make, model, mileage }));
    },

    async getServiceHistory(o: CallOptions & { customerId: string; vehicleId?: string; limit?: number }): Promise<ServiceRecord[]> {
      const limit = clampLimit(o.limit, { dflt: 10, max: 100 });
      if (!isUuid(o.customerId)) return [];
      if (o.vehicleId !== undefined && !isUuid(o.vehicleId)) return [];
      return run(o.signal, (d) => d.getServiceHistory({ customerId: o.customerId, vehicleId: o.vehicleId, limit }));
    },

    async logInteraction(o): Promise<{ externalId: string }> {
      if (!isUuid(o.customerId)) throw new PluginError('not_found', 'customer not found', { provider: PROVIDER });
      const callId = o.callId.trim();
      if (callId.length < 1 || callId.length > 100) throw invalid('callId must be 1-100 characters');
      const startedAt = parseIsoInstant(o.startedAt);
      if (!startedAt) throw invalid('startedAt must be an ISO 8601 instant');
      if (!Number.isInteger(o.durationMs) || o.durationMs < 0) throw invalid('durationMs must be a non-negative integer');
      if (!OUTCOMES.has(o.outcome)) throw invalid('outcome is not one of the known values');
      const summary = o.summary.slice(0, SUMMARY_MAX);
      const row = await run(o.signal, (d) => d.logInteraction({ customerId: o.customerId, callId, startedAt, durationMs: o.durationMs, outcome: o.outcome, summary }));
      return { externalId: row.id };
    },
  };
}
