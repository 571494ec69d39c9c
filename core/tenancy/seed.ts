import fs from 'node:fs';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import { ServiceLaneError } from '../errors.js';
import { migrateTenant } from '../db/migrate.js';
import type { Logger } from '../observability/logger.js';
import type { TenantService } from './tenants.js';
import { packagePath } from '../paths.js';

export const DEMO_SLUG = 'demo';
export const DEMO_NUMBER = '+14085550123';
const DEMO_CONFIG_PATH = packagePath('tenants', 'examples', 'demo-dealership.json');

/** The demo dealership's config as shipped in tenants/examples (read per call: it is tiny and may be edited). */
export function demoConfig(): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(DEMO_CONFIG_PATH, 'utf8')) as Record<string, unknown>;
}

interface SeedVehicle { vin: string; year: number; make: string; model: string; mileage: number; history: { monthsAgo: number; serviceType: string; description: string; mileage: number; costCents: number }[] }
interface SeedCustomer { firstName: string; lastName: string; phone: string; email: string; zip: string; vehicles: SeedVehicle[] }

/**
 * The people a demo caller can be. VIN check digits are real (49 CFR 565.15), so the VIN tools accept them;
 * test/integration/tenancy-seed.test.ts re-checks each one with core/sdk/vin.ts.
 */
export const DEMO_CUSTOMERS: readonly SeedCustomer[] = [
  {
    firstName: 'Ali', lastName: 'Khani', phone: '+14086137788', email: 'ali.khani@example.com', zip: '94087',
    vehicles: [{
      vin: '2HKRW2H85KH614382', year: 2019, make: 'Honda', model: 'CR-V', mileage: 41250,
      history: [
        { monthsAgo: 5, serviceType: 'oil_change', description: 'Synthetic oil and filter change', mileage: 37900, costCents: 8995 },
        { monthsAgo: 11, serviceType: 'tire_rotation', description: 'Tire rotation and pressure check', mileage: 33400, costCents: 3995 },
      ],
    }],
  },
  {
    firstName: 'Maria', lastName: 'Garcia', phone: '+14085550142', email: 'maria.garcia@example.com', zip: '95050',
    vehicles: [{
      vin: '4T1B11HK6JU527841', year: 2018, make: 'Toyota', model: 'Camry', mileage: 58900,
      history: [{ monthsAgo: 3, serviceType: 'brake_inspection', description: 'Front pads at 4 mm; recommend replacement within 5,000 miles', mileage: 57200, costCents: 0 }],
    }],
  },
  {
    firstName: 'Robert', lastName: 'Johnson', phone: '+14085550177', email: 'rjohnson@example.com', zip: '94086',
    vehicles: [
      {
        vin: '2HKRM4H78GH103958', year: 2016, make: 'Honda', model: 'CR-V', mileage: 96400,
        history: [{ monthsAgo: 7, serviceType: 'battery_replacement', description: 'Replaced 12 V battery', mileage: 92100, costCents: 21950 }],
      },
      {
        vin: '1FTFW1EF8BFA71264', year: 2011, make: 'Ford', model: 'F-150', mileage: 148200,
        history: [{ monthsAgo: 2, serviceType: 'multi_point_inspection', description: 'Multi-point inspection; rear shocks worn', mileage: 147000, costCents: 4995 }],
      },
    ],
  },
  {
    firstName: 'Lisa', lastName: 'Chen', phone: '+16505550199', email: 'lisa.chen@example.com', zip: '94301',
    vehicles: [{ vin: '3VWC57BU3LM009183', year: 2020, make: 'Volkswagen', model: 'Jetta', mileage: 22800, history: [] }],
  },
];

/** The next `n` open weekdays (Mon–Fri, not a holiday) after today in the dealership's zone. */
function nextOpenDays(o: { zone: string; holidays: string[]; count: number; now: DateTime }): DateTime[] {
  const out: DateTime[] = [];
  let d = o.now.setZone(o.zone).startOf('day');
  while (out.length < o.count) {
    d = d.plus({ days: 1 });
    if (d.weekday <= 5 && !o.holidays.includes(d.toISODate() ?? '')) out.push(d);
  }
  return out;
}

/**
 * Inserts the demo customers, vehicles, service history and two future appointments into one tenant's
 * tables (the crm-builtin layout). Idempotent: a tenant that already has the first demo customer is left alone.
 */
export async function seedDemoData(trx: Knex.Transaction, o: { timezone: string; holidays?: string[]; now?: Date }): Promise<{ inserted: boolean }> {
  const first = DEMO_CUSTOMERS[0]!;
  const existing = await trx('customers').where({ phone: first.phone, last_name: first.lastName }).first('id');
  if (existing) return { inserted: false };
  const now = DateTime.fromJSDate(o.now ?? new Date());
  const ids: { customerId: string; vehicleIds: string[]; c: SeedCustomer }[] = [];
  for (const c of DEMO_CUSTOMERS) {
    const [row] = await trx('customers')
      .insert({ first_name: c.firstName, last_name: c.lastName, phone: c.phone, email: c.email, zip: c.zip })
      .returning('id') as { id: string }[];
    const vehicleIds: string[] = [];
    for (const v of c.vehicles) {
      const [vr] = await trx('vehicles')
        .insert({ customer_id: row!.id, vin: v.vin, year: v.year, make: v.make, model: v.model, mileage: v.mileage })
        .returning('id') as { id: string }[];
      vehicleIds.push(vr!.id);
      if (v.history.length) {
        await trx('service_history').insert(v.history.map((h) => ({
          vehicle_id: vr!.id, performed_at: now.minus({ months: h.monthsAgo }).toJSDate(), service_type: h.serviceType,
          description: h.description, mileage: h.mileage, cost_cents: h.costCents,
        })));
      }
    }
    ids.push({ customerId: row!.id, vehicleIds, c });
  }
  const [d1, d2] = nextOpenDays({ zone: o.timezone, holidays: o.holidays ?? [], count: 3, now }).slice(1);
  const booking = (who: (typeof ids)[number], day: DateTime, at: { hour: number; minute: number }, svc: { id: string; min: number }, bay: string) => {
    const start = day.set({ hour: at.hour, minute: at.minute });
    return {
      customer_id: who.customerId, vehicle_id: who.vehicleIds[0], customer_name: `${who.c.firstName} ${who.c.lastName}`,
      customer_phone: who.c.phone, resource_id: bay, service_type: svc.id, starts_at: start.toJSDate(),
      ends_at: start.plus({ minutes: svc.min }).toJSDate(), status: 'booked', source: 'seed', idempotency_key: `seed:demo:${who.c.phone}`,
    };
  };
  await trx('appointments').insert([
    booking(ids[1]!, d1!, { hour: 9, minute: 0 }, { id: 'brake_inspection', min: 60 }, 'bay-1'),
    booking(ids[2]!, d2!, { hour: 10, minute: 30 }, { id: 'oil_change', min: 45 }, 'bay-2'),
  ]);
  return { inserted: true };
}

/**
 * Makes sure the demo dealership exists (slug `demo`), is migrated, has the demo number and its seed data.
 * Safe to call on every start; a crash half-way is finished on the next call.
 */
export async function seedDemo(p: { tenants: TenantService; db: Knex; logger: Logger }): Promise<{ tenantId: string; number: string }> {
  const row: { id: string; schema_name: string; status: string } | undefined = await p.db('platform.tenants').where({ slug: DEMO_SLUG }).first('id', 'schema_name', 'status');
  let tenantId: string;
  if (!row) {
    const config = demoConfig();
    tenantId = (await p.tenants.create({ name: String(config.name), slug: DEMO_SLUG, config })).id;
  } else {
    tenantId = row.id;
    if (row.status === 'offboarded') throw new ServiceLaneError('TEN_ERR_OFFBOARDED', 'the demo tenant was offboarded; create another tenant over the admin API');
    if (row.status !== 'active') {
      const version = (await p.db('platform.tenant_migrations').where({ tenant_id: row.id }).first('version'))?.version ?? null;
      const res = await migrateTenant(p.db, { id: row.id, schema: row.schema_name, version });
      if (res.error) throw new ServiceLaneError('TEN_ERR_MIGRATION_FAILED', 'the demo tenant schema could not be migrated', { tenantId, error: res.error });
      await p.db('platform.tenants').where({ id: row.id }).update({ status: 'active', updated_at: p.db.fn.now() });
    }
  }
  const tenant = await p.tenants.get(tenantId);
  try {
    await p.tenants.attachNumber(tenantId, DEMO_NUMBER);
  } catch (e) {
    // Someone gave the demo number to a real tenant: keep theirs, the demo still works over the admin API.
    if (e instanceof ServiceLaneError && e.code === 'TEN_ERR_NUMBER_TAKEN') p.logger.warn({ tenantId }, 'demo number is attached to another tenant');
    else throw e;
  }
  await p.tenants.withTenant(tenantId, (trx) => seedDemoData(trx, { timezone: tenant.config?.timezone ?? 'America/Los_Angeles', holidays: tenant.config?.holidays }));
  return { tenantId, number: DEMO_NUMBER };
}
