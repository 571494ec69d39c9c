import type { Knex } from 'knex';
import {
  normalizeVin, isValidVin, PluginError, parseIsoInstant,
  type CallOptions, type CrmConnector, type Customer, type PluginContext, type ServiceRecord, type Vehicle,
} from '../../core/sdk/index.js';
import { PROVIDER, clampLimit, escapeLike, invalid, isUuid, mapDbError } from './db.js';

const E164_RE = /^\+[1-9][0-9]{6,14}$/;
const ZIP_RE = /^[A-Za-z0-9][A-Za-z0-9 -]{1,9}$/;
const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;
const SUMMARY_MAX = 8000;
const OUTCOMES = new Set(['booked', 'cancelled', 'rescheduled', 'info', 'transferred', 'callback', 'voicemail', 'other']);

const CUSTOMER_COLS = ['id', 'first_name', 'last_name', 'phone', 'email', 'zip', 'notes'] as const;
const VEHICLE_COLS = ['id', 'customer_id', 'vin', 'year', 'make', 'model', 'mileage'] as const;

interface CustomerRow { id: string; first_name: string; last_name: string; phone: string | null; email: string | null; zip: string | null; notes: string | null }
interface VehicleRow { id: string; customer_id: string; vin: string | null; year: number | null; make: string | null; model: string | null; mileage: number | null }
interface ServiceRow { id: string; vehicle_id: string; performed_at: Date; service_type: string; description: string | null; mileage: number | null }

function toCustomer(r: CustomerRow): Customer {
  const c: Customer = { id: r.id, firstName: r.first_name, lastName: r.last_name };
  if (r.phone) c.phone = r.phone;
  if (r.email) c.email = r.email;
  if (r.zip) c.zip = r.zip;
  if (r.notes) c.notes = r.notes;
  return c;
}

function toVehicle(r: VehicleRow): Vehicle {
  const v: Vehicle = { id: r.id, customerId: r.customer_id };
  if (r.vin) v.vin = r.vin;
  if (r.year !== null) v.year = r.year;
  if (r.make) v.make = r.make;
  if (r.model) v.model = r.model;
  if (r.mileage !== null) v.mileage = r.mileage;
  return v;
}

function toServiceRecord(r: ServiceRow): ServiceRecord {
  const s: ServiceRecord = { id: r.id, vehicleId: r.vehicle_id, performedAt: r.performed_at.toISOString(), serviceType: r.service_type };
  if (r.description) s.description = r.description;
  if (r.mileage !== null) s.mileage = r.mileage;
  return s;
}

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

/**
 * The built-in CRM: customers, vehicles and service history in the tenant's own schema.
 * Every method validates its input before touching the database, so a bad argument never costs a query.
 */
export function createBuiltinCrm(ctx: PluginContext): CrmConnector {
  /** One tenant-scoped transaction per call; the abort check comes first so a cancelled turn costs nothing. */
  async function run<T>(signal: AbortSignal | undefined, fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    try {
      signal?.throwIfAborted();
      return await ctx.tenantDb(fn);
    } catch (e) {
      throw mapDbError(e);
    }
  }

  return {
    async findCustomers(o: CallOptions & { phone?: string; name?: string; lastName?: string; firstName?: string; limit?: number }): Promise<Customer[]> {
      const limit = clampLimit(o.limit, { dflt: 10, max: 50 });
      if (o.phone === undefined && o.name === undefined && o.lastName === undefined) throw invalid('findCustomers needs a phone, a name or a lastName');
      if (o.firstName !== undefined && o.lastName === undefined) throw invalid('firstName only narrows a lastName search');
      if (o.phone !== undefined && !E164_RE.test(o.phone)) throw invalid('phone must be E.164');
      let pattern: string | undefined;
      if (o.name !== undefined) {
        const name = o.name.trim().replace(/\s+/g, ' ').toLowerCase();
        if (name.length < 1 || name.length > 100) throw invalid('name must be 1-100 characters');
        pattern = `${escapeLike(name)}%`;
      }
      const exact = (v: string | undefined, field: string): string | undefined => {
        if (v === undefined) return undefined;
        const t = v.trim().replace(/\s+/g, ' ').toLowerCase();
        if (t.length < 1 || t.length > 100) throw invalid(`${field} must be 1-100 characters`);
        return t;
      };
      const lastName = exact(o.lastName, 'lastName');
      const firstName = exact(o.firstName, 'firstName');
      const rows = await run(o.signal, (trx) => {
        // The caller-ID lookup runs on every inbound call: one statement on the phone index, nothing else.
        const q = trx<CustomerRow>('customers').select(...CUSTOMER_COLS).limit(limit);
        if (o.phone !== undefined) q.where('phone', o.phone).orderBy('updated_at', 'desc');
        // Verification's exact last-name query: the equality index on lower(last_name) (001_init) serves it.
        if (lastName !== undefined) {
          q.whereRaw('lower(last_name) = ?', [lastName]);
          if (firstName !== undefined) q.whereRaw('lower(first_name) = ?', [firstName]);
          if (pattern === undefined) q.orderByRaw('lower(first_name), id');
        }
        if (pattern !== undefined) {
          const p = pattern;
          q.where((w) => {
            w.whereRaw('lower(first_name) like ?', [p])
              .orWhereRaw('lower(last_name) like ?', [p])
              .orWhereRaw("lower(first_name || ' ' || last_name) like ?", [p]);
          }).orderByRaw('lower(last_name), lower(first_name), id');
        }
        return q;
      });
      return rows.map(toCustomer);
    },

    async getCustomer(o: CallOptions & { id: string }): Promise<Customer | null> {
      if (!isUuid(o.id)) return null;
      const row = await run(o.signal, (trx) => trx<CustomerRow>('customers').where('id', o.id).first(...CUSTOMER_COLS));
      return row ? toCustomer(row) : null;
    },

    async createCustomer(o): Promise<Customer> {
      const firstName = personName(o.firstName, 'firstName');
      const lastName = personName(o.lastName, 'lastName');
      if (o.phone !== undefined && !E164_RE.test(o.phone)) throw invalid('phone must be E.164');
      const email = optionalText(o.email, { field: 'email', max: 254 });
      if (email !== null && !EMAIL_RE.test(email)) throw invalid('email is not valid');
      const zip = optionalText(o.zip, { field: 'zip', max: 10 });
      if (zip !== null && !ZIP_RE.test(zip)) throw invalid('zip is not valid');
      const [row] = await run(o.signal, (trx) => trx<CustomerRow>('customers')
        .insert({ first_name: firstName, last_name: lastName, phone: o.phone ?? null, email, zip })
        .returning(CUSTOMER_COLS));
      if (!row) throw mapDbError(new Error('insert returned no row'));
      return toCustomer(row);
    },

    async listVehicles(o: CallOptions & { customerId: string }): Promise<Vehicle[]> {
      if (!isUuid(o.customerId)) return [];
      const rows = await run(o.signal, (trx) => trx<VehicleRow>('vehicles').where('customer_id', o.customerId)
        .select(...VEHICLE_COLS).orderBy([{ column: 'created_at' }, { column: 'id' }]));
      return rows.map(toVehicle);
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
      const [row] = await run(o.signal, (trx) => trx<VehicleRow>('vehicles')
        .insert({ customer_id: o.customerId, vin, year, make, model, mileage }).returning(VEHICLE_COLS));
      if (!row) throw mapDbError(new Error('insert returned no row'));
      return toVehicle(row);
    },

    async getServiceHistory(o: CallOptions & { customerId: string; vehicleId?: string; limit?: number }): Promise<ServiceRecord[]> {
      const limit = clampLimit(o.limit, { dflt: 10, max: 100 });
      if (!isUuid(o.customerId)) return [];
      if (o.vehicleId !== undefined && !isUuid(o.vehicleId)) return [];
      const rows = await run(o.signal, (trx) => {
        const q = trx<ServiceRow>('service_history as s').join('vehicles as v', 'v.id', 's.vehicle_id')
          .where('v.customer_id', o.customerId)
          .select('s.id', 's.vehicle_id', 's.performed_at', 's.service_type', 's.description', 's.mileage')
          .orderBy([{ column: 's.performed_at', order: 'desc' }, { column: 's.id', order: 'desc' }])
          .limit(limit);
        if (o.vehicleId !== undefined) q.where('s.vehicle_id', o.vehicleId);
        return q;
      });
      return rows.map(toServiceRecord);
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
      const [row] = await run(o.signal, (trx) => trx('crm_interactions')
        .insert({ customer_id: o.customerId, call_id: callId, started_at: startedAt, duration_ms: o.durationMs, outcome: o.outcome, summary })
        // A retried post-call job lands on the same row; the latest summary wins.
        .onConflict(['customer_id', 'call_id']).merge(['summary', 'outcome', 'duration_ms'])
        .returning<{ id: string }[]>('id'));
      if (!row) throw mapDbError(new Error('insert returned no row'));
      return { externalId: row.id };
    },
  };
}
