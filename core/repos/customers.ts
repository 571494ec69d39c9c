import type { BuiltinCrmData, Customer, ServiceRecord, Vehicle } from '../sdk/index.js';
import type { TenantScope } from './tenant-scope.js';

/**
 * The customers table family (customers, vehicles, service_history, crm_interactions) as the built-in CRM
 * sees it. The SQL lives here, in core, so the plugin gets data without a database handle (DESIGN §3);
 * validation stays in the plugin, which owns the contract's error categories.
 */

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

/** Escapes LIKE metacharacters so a caller-supplied name is matched literally (Postgres' default escape is `\`). */
function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A row that `returning` should always produce; its absence is a driver bug, never user input. */
function returned<T>(row: T | undefined): T {
  // Internal invariant, never user-facing: the plugin maps it to a PluginError like any database failure.
  if (!row) throw new Error('insert returned no row');
  return row;
}

export function createCustomerRepository(scope: TenantScope): BuiltinCrmData {
  return {
    async findCustomers(o) {
      const rows = await scope((trx) => {
        // The caller-ID lookup runs on every inbound call: one statement on the phone index, nothing else.
        const q = trx<CustomerRow>('customers').select(...CUSTOMER_COLS).limit(o.limit);
        if (o.phone !== undefined) q.where('phone', o.phone).orderBy('updated_at', 'desc');
        // Verification's exact last-name query: the equality index on lower(last_name) (001_init) serves it.
        if (o.lastName !== undefined) {
          q.whereRaw('lower(last_name) = ?', [o.lastName]);
          if (o.firstName !== undefined) q.whereRaw('lower(first_name) = ?', [o.firstName]);
          if (o.namePrefix === undefined) q.orderByRaw('lower(first_name), id');
        }
        if (o.namePrefix !== undefined) {
          const p = `${escapeLike(o.namePrefix)}%`;
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

    async getCustomer(id) {
      const row = await scope((trx) => trx<CustomerRow>('customers').where('id', id).first(...CUSTOMER_COLS));
      return row ? toCustomer(row) : null;
    },

    async createCustomer(c) {
      const [row] = await scope((trx) => trx<CustomerRow>('customers')
        .insert({ first_name: c.firstName, last_name: c.lastName, phone: c.phone, email: c.email, zip: c.zip })
        .returning(CUSTOMER_COLS));
      return toCustomer(returned(row));
    },

    async listVehicles(customerId) {
      const rows = await scope((trx) => trx<VehicleRow>('vehicles').where('customer_id', customerId)
        .select(...VEHICLE_COLS).orderBy([{ column: 'created_at' }, { column: 'id' }]));
      return rows.map(toVehicle);
    },

    async addVehicle(v) {
      const [row] = await scope((trx) => trx<VehicleRow>('vehicles')
        .insert({ customer_id: v.customerId, vin: v.vin, year: v.year, make: v.make, model: v.model, mileage: v.mileage }).returning(VEHICLE_COLS));
      return toVehicle(returned(row));
    },

    async getServiceHistory(o) {
      const rows = await scope((trx) => {
        const q = trx<ServiceRow>('service_history as s').join('vehicles as v', 'v.id', 's.vehicle_id')
          .where('v.customer_id', o.customerId)
          .select('s.id', 's.vehicle_id', 's.performed_at', 's.service_type', 's.description', 's.mileage')
          .orderBy([{ column: 's.performed_at', order: 'desc' }, { column: 's.id', order: 'desc' }])
          .limit(o.limit);
        if (o.vehicleId !== undefined) q.where('s.vehicle_id', o.vehicleId);
        return q;
      });
      return rows.map(toServiceRecord);
    },

    async logInteraction(i) {
      const [row] = await scope((trx) => trx('crm_interactions')
        .insert({ customer_id: i.customerId, call_id: i.callId, started_at: i.startedAt, duration_ms: i.durationMs, outcome: i.outcome, summary: i.summary })
        // A retried post-call job lands on the same row; the latest summary wins.
        .onConflict(['customer_id', 'call_id']).merge(['summary', 'outcome', 'duration_ms'])
        .returning<{ id: string }[]>('id'));
      return { id: returned(row).id };
    },

    async ping() {
      await scope((trx) => trx('customers').first('id'));
    },
  };
}
