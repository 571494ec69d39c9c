import assert from 'node:assert/strict';
import { isValidVin, vinCheckDigit } from '../../core/sdk/vin.js';
import { DEMO_CUSTOMERS, DEMO_NUMBER, seedDemo } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

describe('demo seed (integration)', function () {
  this.timeout(60_000);
  let tp: TestPlatform;
  before(async () => { tp = await startTestPlatform(); });
  after(async () => { await tp?.close(); });

  it('ships 17-character VINs whose check digit is valid', () => {
    const vins = DEMO_CUSTOMERS.flatMap((c) => c.vehicles.map((v) => v.vin));
    assert.equal(vins.length, 5);
    for (const vin of vins) {
      assert.equal(vin.length, 17);
      assert.equal(vinCheckDigit(vin), vin[8], vin);
      assert.deepEqual(isValidVin(vin), { ok: true, vin });
    }
  });

  it('creates the demo dealership with its number, customers, vehicles, history and future appointments', async () => {
    const d = await seedDemo(tp.p);
    assert.equal(d.number, DEMO_NUMBER);
    assert.equal((await tp.p.tenants.resolveNumber(DEMO_NUMBER))?.id, d.tenantId);
    const t = await tp.p.tenants.get(d.tenantId);
    assert.equal(t.slug, 'demo');
    assert.equal(t.config?.timezone, 'America/Los_Angeles');
    assert.equal(t.config?.resources.filter((r) => r.kind === 'bay').length, 3);
    const data = await tp.p.tenants.withTenant(d.tenantId, async (trx) => ({
      customers: await trx('customers').orderBy('last_name').select('first_name', 'last_name', 'phone', 'zip'),
      vehicles: await trx('vehicles as v').join('customers as c', 'c.id', 'v.customer_id').orderBy(['c.last_name', 'v.year'])
        .select('c.last_name', 'v.year', 'v.make', 'v.model', 'v.vin'),
      history: Number((await trx('service_history').count('* as n'))[0]!.n),
      future: await trx('appointments').where('starts_at', '>', new Date()).select('customer_id', 'resource_id', 'starts_at'),
    }));
    assert.deepEqual(data.customers.map((c) => `${c.first_name} ${c.last_name} ${c.phone}`), [
      'Lisa Chen +16505550199', 'Maria Garcia +14085550142', 'Robert Johnson +14085550177', 'Ali Khani +14086137788',
    ]);
    assert.equal(data.customers.find((c) => c.last_name === 'Khani').zip, '94087');
    assert.deepEqual(data.vehicles.map((v) => `${v.last_name} ${v.year} ${v.make} ${v.model}`), [
      'Chen 2020 Volkswagen Jetta', 'Garcia 2018 Toyota Camry', 'Johnson 2011 Ford F-150', 'Johnson 2016 Honda CR-V', 'Khani 2019 Honda CR-V',
    ]);
    for (const v of data.vehicles) assert.ok(isValidVin(v.vin).ok, v.vin);
    assert.ok(data.history >= 3);
    assert.equal(data.future.length, 2);
  });

  it('is idempotent: a second run adds no tenant, number or row', async () => {
    const first = await seedDemo(tp.p);
    const counts = async () => ({
      tenants: Number(((await tp.p.db('platform.tenants').count('* as n')) as { n: number }[])[0]!.n),
      numbers: Number(((await tp.p.db('platform.phone_numbers').count('* as n')) as { n: number }[])[0]!.n),
      rows: await tp.p.tenants.withTenant(first.tenantId, async (trx) => {
        const n = async (t: string) => Number((await trx(t).count('* as n'))[0]!.n);
        return [await n('customers'), await n('vehicles'), await n('service_history'), await n('appointments')];
      }),
    });
    const before = await counts();
    const second = await seedDemo(tp.p);
    assert.equal(second.tenantId, first.tenantId);
    assert.deepEqual(await counts(), before);
  });
});
