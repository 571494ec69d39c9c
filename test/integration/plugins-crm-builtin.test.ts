// crm-builtin against the real tenant schema (fresh database, demo dealership tenant).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, type CrmConnector, type ErrorCategory } from '../../core/sdk/index.js';
import crmBuiltin from '../../plugins/crm-builtin/index.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext } from '../helpers/plugin-context.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;

async function rejectsWith(p: Promise<unknown>, category: ErrorCategory): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPluginError(e), `expected a PluginError, got ${String(e)}`);
    assert.equal(e.category, category);
    return true;
  });
}

describe('crm-builtin plugin', () => {
  let tp: TestPlatform;
  let tenantId: string;
  let otherTenantId: string;
  let crm: CrmConnector;

  const count = (table: string, tid = tenantId): Promise<number> =>
    tp.p.tenants.withTenant(tid, async (trx) => Number((await trx(table).count<{ count: string }[]>('* as count'))[0]!.count));

  before(async () => {
    tp = await startTestPlatform();
    tenantId = (await tp.p.tenants.create({ name: 'Demo', config: demo })).id;
    otherTenantId = (await tp.p.tenants.create({ name: 'Other', config: demo })).id;
    crm = await crmBuiltin.create(createPluginTestContext({ p: tp.p, tenantId, pluginId: 'crm-builtin', tenantData: true }), { settings: {}, credentials: {} });
  });
  after(async () => { await tp?.close(); });

  describe('customers', () => {
    let maria: string;
    before(async () => {
      maria = (await crm.createCustomer({ firstName: 'Maria', lastName: 'Lopez', phone: '+14085550101', email: 'maria@example.com', zip: '94086' })).id;
      await crm.createCustomer({ firstName: 'Mark', lastName: 'Johnson', phone: '+14085550102' });
      await crm.createCustomer({ firstName: 'Lopa', lastName: 'Smith' });
      await crm.createCustomer({ firstName: 'Sean', lastName: "O'Brien" });
      await crm.createCustomer({ firstName: '100%', lastName: 'Literal' });
    });

    it('finds a customer by exact E.164 phone and maps every stored field', async () => {
      const found = await crm.findCustomers({ phone: '+14085550101' });
      assert.deepEqual(found, [{ id: maria, firstName: 'Maria', lastName: 'Lopez', phone: '+14085550101', email: 'maria@example.com', zip: '94086' }]);
      assert.deepEqual(await crm.findCustomers({ phone: '+14085550199' }), []);
    });

    it('answers the caller-ID lookup with one statement on the customers table', async () => {
      const seen: string[] = [];
      const onQuery = (q: { sql: string }): void => { seen.push(q.sql); };
      tp.p.db.on('query', onQuery);
      try {
        await crm.findCustomers({ phone: '+14085550101' });
      } finally {
        tp.p.db.off('query', onQuery);
      }
      const touching = seen.filter((s) => /customers/.test(s));
      assert.equal(touching.length, 1, `expected one customers query, saw: ${touching.join(' | ')}`);
      assert.match(touching[0]!, /where "phone" = \$1/);
      // The statement's predicate is one the phone index serves (seq scans off so the tiny table can't hide it).
      const plan = await tp.p.tenants.withTenant(tenantId, async (trx) => {
        await trx.raw('set local enable_seqscan = off');
        const r = await trx.raw(`explain ${touching[0]!.replace('$1', "'+14085550101'").replace('$2', '10')}`);
        return (r.rows as { 'QUERY PLAN': string }[]).map((x) => x['QUERY PLAN']).join('\n');
      });
      assert.match(plan, /customers_phone/);
    });

    it('finds by case-insensitive prefix of first, last or full name', async () => {
      const names = async (name: string): Promise<string[]> => (await crm.findCustomers({ name })).map((c) => `${c.firstName} ${c.lastName}`);
      assert.deepEqual(await names('lop'), ['Maria Lopez', 'Lopa Smith']);
      assert.deepEqual(await names('MAR'), ['Mark Johnson', 'Maria Lopez']);
      assert.deepEqual(await names('  maria   lo '), ['Maria Lopez']);
      assert.deepEqual(await names("o'b"), ["Sean O'Brien"]);
      assert.deepEqual(await names('zzz'), []);
    });

    it('matches LIKE wildcards in a name literally', async () => {
      assert.deepEqual((await crm.findCustomers({ name: '100%' })).map((c) => c.lastName), ['Literal']);
      assert.deepEqual(await crm.findCustomers({ name: '%' }), []);
      assert.deepEqual(await crm.findCustomers({ name: '_' }), []);
    });

    it('caps results at the requested limit', async () => {
      assert.equal((await crm.findCustomers({ name: 'l', limit: 1 })).length, 1);
    });

    it('refuses a lookup without phone or name, a non-E.164 phone and a 10k-character name', async () => {
      await rejectsWith(crm.findCustomers({}), 'invalid_request');
      await rejectsWith(crm.findCustomers({ phone: '4085550101' }), 'invalid_request');
      await rejectsWith(crm.findCustomers({ phone: "+1' OR 1=1 --" }), 'invalid_request');
      await rejectsWith(crm.findCustomers({ name: 'x'.repeat(10_000) }), 'invalid_request');
      await rejectsWith(crm.findCustomers({ name: 'a', limit: 0 }), 'invalid_request');
    });

    it('finds every exact last-name match, not just the first 10 prefix matches (25 share the name, the one wanted sorts last)', async () => {
      // First names that also start with the surname crowd a prefix search, as they did verification's candidate pool.
      for (let i = 0; i < 24; i++) await crm.createCustomer({ firstName: `Anna${String(i).padStart(2, '0')}`, lastName: 'Okonkwo' });
      for (let i = 0; i < 5; i++) await crm.createCustomer({ firstName: `Okonkwo${i}`, lastName: 'Prefixed' });
      const target = await crm.createCustomer({ firstName: 'Zelda', lastName: 'OKONKWO', zip: '60601' });
      await crm.createCustomer({ firstName: 'Zelda', lastName: 'Okonkwoson' });
      const prefix = await crm.findCustomers({ name: 'okonkwo' });
      assert.ok(!prefix.some((c) => c.id === target.id), 'the old prefix search (limit 10) misses the 25th');
      const all = await crm.findCustomers({ lastName: 'okonkwo', limit: 41 });
      assert.equal(all.length, 25);
      assert.ok(all.every((c) => c.lastName.toLowerCase() === 'okonkwo'));
      assert.ok(all.some((c) => c.id === target.id));
      assert.deepEqual((await crm.findCustomers({ lastName: 'Okonkwo', firstName: 'zelda' })).map((c) => c.id), [target.id]);
      assert.deepEqual(await crm.findCustomers({ lastName: 'Okonk' }), [], 'exact, not prefix');
      assert.deepEqual(await crm.findCustomers({ lastName: '%' }), [], 'wildcards are literal');
      await rejectsWith(crm.findCustomers({ firstName: 'Zelda' }), 'invalid_request');
      await rejectsWith(crm.findCustomers({ lastName: 'x'.repeat(101) }), 'invalid_request');
    });

    it('returns null for an unknown or malformed customer id', async () => {
      assert.equal(await crm.getCustomer({ id: '00000000-0000-4000-8000-000000000000' }), null);
      assert.equal(await crm.getCustomer({ id: "1' OR 1=1 --" }), null);
      assert.equal((await crm.getCustomer({ id: maria }))?.lastName, 'Lopez');
    });

    it('refuses bad customer fields and writes nothing', async () => {
      const before = await count('customers');
      await rejectsWith(crm.createCustomer({ firstName: 'x'.repeat(10_000), lastName: 'Y' }), 'invalid_request');
      await rejectsWith(crm.createCustomer({ firstName: '  ', lastName: 'Y' }), 'invalid_request');
      await rejectsWith(crm.createCustomer({ firstName: 'A', lastName: 'B', phone: '555-0101' }), 'invalid_request');
      await rejectsWith(crm.createCustomer({ firstName: 'A', lastName: 'B', email: 'not-an-email' }), 'invalid_request');
      await rejectsWith(crm.createCustomer({ firstName: 'A', lastName: 'B', zip: "1' OR 1=1 --" }), 'invalid_request');
      assert.equal(await count('customers'), before);
    });

    it('keeps tenants apart: another tenant sees none of these customers', async () => {
      const other = await crmBuiltin.create(createPluginTestContext({ p: tp.p, tenantId: otherTenantId, pluginId: 'crm-builtin', tenantData: true }), { settings: {}, credentials: {} });
      assert.deepEqual(await other.findCustomers({ phone: '+14085550101' }), []);
      assert.equal(await other.getCustomer({ id: maria }), null);
    });
  });

  describe('vehicles and service history', () => {
    let owner: string;
    let stranger: string;
    before(async () => {
      owner = (await crm.createCustomer({ firstName: 'Vera', lastName: 'Owner', phone: '+14085550111' })).id;
      stranger = (await crm.createCustomer({ firstName: 'Sam', lastName: 'Stranger' })).id;
    });

    it('adds a vehicle with a normalised VIN and lists only that customer\'s vehicles', async () => {
      const v = await crm.addVehicle({ customerId: owner, vin: '1hg cm826-33a004352', year: 2003, make: 'Honda', model: 'Accord', mileage: 120_000 });
      assert.deepEqual(v, { id: v.id, customerId: owner, vin: '1HGCM82633A004352', year: 2003, make: 'Honda', model: 'Accord', mileage: 120_000 });
      await crm.addVehicle({ customerId: stranger, make: 'Ford' });
      assert.deepEqual((await crm.listVehicles({ customerId: owner })).map((x) => x.id), [v.id]);
      assert.deepEqual(await crm.listVehicles({ customerId: 'not-a-uuid' }), []);
    });

    it('refuses a VIN already on file with conflict and writes nothing', async () => {
      const before = await count('vehicles');
      await rejectsWith(crm.addVehicle({ customerId: stranger, vin: '1HGCM82633A004352' }), 'conflict');
      assert.equal(await count('vehicles'), before);
    });

    it('refuses hostile or malformed vehicle input and unknown customers, writing nothing', async () => {
      const before = await count('vehicles');
      await rejectsWith(crm.addVehicle({ customerId: owner, vin: "1' OR 1=1 --" }), 'invalid_request');
      await rejectsWith(crm.addVehicle({ customerId: owner, vin: '1HGCM82633A00435' }), 'invalid_request');
      await rejectsWith(crm.addVehicle({ customerId: owner, year: 1800 }), 'invalid_request');
      await rejectsWith(crm.addVehicle({ customerId: owner, mileage: -5 }), 'invalid_request');
      await rejectsWith(crm.addVehicle({ customerId: owner, make: 'x'.repeat(10_000) }), 'invalid_request');
      await rejectsWith(crm.addVehicle({ customerId: '00000000-0000-4000-8000-000000000000', make: 'Ford' }), 'not_found');
      await rejectsWith(crm.addVehicle({ customerId: 'nope', make: 'Ford' }), 'not_found');
      assert.equal(await count('vehicles'), before);
    });

    it('returns service history newest first, limited, and filtered by vehicle', async () => {
      const a = await crm.addVehicle({ customerId: owner, make: 'Toyota', model: 'Camry' });
      const b = (await crm.listVehicles({ customerId: owner }))[0]!;
      const other = (await crm.listVehicles({ customerId: stranger }))[0]!;
      await tp.p.tenants.withTenant(tenantId, (trx) => trx('service_history').insert([
        { vehicle_id: a.id, performed_at: '2025-01-10T17:00:00Z', service_type: 'oil_change', mileage: 30_000 },
        { vehicle_id: b.id, performed_at: '2025-06-01T17:00:00Z', service_type: 'tire_rotation', description: 'rotated' },
        { vehicle_id: a.id, performed_at: '2024-03-05T17:00:00Z', service_type: 'brake_inspection' },
        { vehicle_id: other.id, performed_at: '2025-07-01T17:00:00Z', service_type: 'oil_change' },
      ]));
      const all = await crm.getServiceHistory({ customerId: owner });
      assert.deepEqual(all.map((s) => s.performedAt), ['2025-06-01T17:00:00.000Z', '2025-01-10T17:00:00.000Z', '2024-03-05T17:00:00.000Z']);
      assert.deepEqual(all[0], { id: all[0]!.id, vehicleId: b.id, performedAt: '2025-06-01T17:00:00.000Z', serviceType: 'tire_rotation', description: 'rotated' });
      assert.deepEqual((await crm.getServiceHistory({ customerId: owner, limit: 1 })).map((s) => s.serviceType), ['tire_rotation']);
      assert.deepEqual((await crm.getServiceHistory({ customerId: owner, vehicleId: a.id })).map((s) => s.serviceType), ['oil_change', 'brake_inspection']);
      // Another customer's vehicle id yields nothing, not that customer's history.
      assert.deepEqual(await crm.getServiceHistory({ customerId: owner, vehicleId: other.id }), []);
      assert.deepEqual(await crm.getServiceHistory({ customerId: 'x' }), []);
    });
  });

  describe('interactions', () => {
    let cust: string;
    before(async () => { cust = (await crm.createCustomer({ firstName: 'Ivy', lastName: 'Caller' })).id; });

    it('logs a call once per call id, so a retried job updates instead of duplicating', async () => {
      const o = { customerId: cust, callId: 'CA0001', startedAt: '2026-03-02T22:05:00Z', durationMs: 192_000, summary: 'Booked an oil change', outcome: 'booked' as const };
      const first = await crm.logInteraction(o);
      const again = await crm.logInteraction({ ...o, summary: 'Booked an oil change for Friday' });
      assert.equal(again.externalId, first.externalId);
      const rows = await tp.p.tenants.withTenant(tenantId, (trx) => trx('crm_interactions').where({ customer_id: cust }).select('summary', 'outcome', 'duration_ms'));
      assert.deepEqual(rows, [{ summary: 'Booked an oil change for Friday', outcome: 'booked', duration_ms: 192_000 }]);
    });

    it('refuses an unknown customer or malformed call data and writes nothing', async () => {
      const before = await count('crm_interactions');
      const ok = { customerId: cust, callId: 'CA0002', startedAt: '2026-03-02T22:05:00Z', durationMs: 1000, summary: 's', outcome: 'info' as const };
      await rejectsWith(crm.logInteraction({ ...ok, customerId: '00000000-0000-4000-8000-000000000000' }), 'not_found');
      await rejectsWith(crm.logInteraction({ ...ok, startedAt: '2099-02-30' }), 'invalid_request');
      await rejectsWith(crm.logInteraction({ ...ok, durationMs: -1 }), 'invalid_request');
      await rejectsWith(crm.logInteraction({ ...ok, outcome: 'delete_everything' as 'info' }), 'invalid_request');
      assert.equal(await count('crm_interactions'), before);
    });
  });

  it('declares the capabilities the agent relies on and passes its connection test', async () => {
    assert.deepEqual(crmBuiltin.capabilities, { vehicles: true, serviceHistory: true, interactions: true, createCustomers: true });
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'crm-builtin', tenantData: true });
    assert.deepEqual(await crmBuiltin.testConnection!(ctx, { settings: {}, credentials: {} }), { ok: true });
  });
});
