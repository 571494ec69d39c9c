// crm-attio against the fake Attio workspace (test/fakes/attio.ts), with ctx.store on a real tenant schema.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, type CrmConnector } from '../../core/sdk/index.js';
import crmAttio from '../../plugins/crm-attio/index.js';
import { startFakeAttio, type FakeAttio } from '../fakes/attio.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext } from '../helpers/plugin-context.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;
const KEY = 'attio-test-key-0123456789';

describe('crm-attio plugin', () => {
  let tp: TestPlatform;
  const fakes: FakeAttio[] = [];
  before(async () => { tp = await startTestPlatform(); });
  after(async () => { await Promise.all(fakes.map((f) => f.close())); await tp?.close(); });

  async function setup(settings: Record<string, unknown> = {}): Promise<{ fake: FakeAttio; crm: CrmConnector }> {
    const fake = await startFakeAttio({ apiKey: KEY });
    fakes.push(fake);
    const tenantId = (await tp.p.tenants.create({ name: `Attio ${fakes.length}`, config: demo })).id;
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'crm-attio' });
    return { fake, crm: await crmAttio.create(ctx, { settings, credentials: { apiKey: KEY, baseUrl: fake.url } }) as CrmConnector };
  }

  it('finds a person by E.164 phone with an unwrapped query body, and reads the ZIP from the configured attribute', async () => {
    const { fake, crm } = await setup({ zipAttribute: 'zip_code' });
    const c = await crm.createCustomer({ firstName: 'Ana', lastName: 'García', phone: '+14085550123', zip: '94086' });
    const found = await crm.findCustomers({ phone: '+14085550123' });
    assert.deepEqual(found, [{ id: c.id, firstName: 'Ana', lastName: 'García', phone: '+14085550123', zip: '94086' }]);
    const q = fake.requests.find((r) => r.path === '/v2/objects/people/records/query');
    assert.deepEqual((q?.body as { filter: unknown }).filter, { phone_numbers: '+14085550123' });
    assert.equal(Object.hasOwn(q!.body as object, 'data'), false, 'query bodies are not wrapped in data');
  });

  it('waits out a 429 whose Retry-After is the next second, once, and succeeds', async () => {
    const { fake, crm } = await setup();
    fake.faults.failNext(1, 429);
    assert.deepEqual(await crm.findCustomers({ phone: '+14085550100' }), []);
    assert.equal(fake.requests.length, 1, 'the refused request was not processed; the retry was');
  });

  it('a second 429 in a row surfaces as retryable rate_limit; a 403 as forbidden', async () => {
    const { fake, crm } = await setup();
    fake.faults.failNext(2, 429);
    await assert.rejects(crm.findCustomers({ phone: '+14085550100' }), (e: unknown) => isPluginError(e) && e.category === 'rate_limit' && e.retryable);
    fake.faults.failNext(1, 403);
    await assert.rejects(crm.findCustomers({ phone: '+14085550100' }), (e: unknown) => isPluginError(e) && e.category === 'forbidden');
  });

  it('logs one plaintext note per call id', async () => {
    const { fake, crm } = await setup();
    const c = await crm.createCustomer({ firstName: 'Ana', lastName: 'García' });
    const call = { customerId: c.id, callId: 'CA0123456789abcdef0123456789abcdef', startedAt: '2026-03-02T17:00:00Z', durationMs: 60_000, summary: 'Booked an oil change.', outcome: 'booked' as const };
    const a = await crm.logInteraction(call);
    const b = await crm.logInteraction(call);
    assert.equal(a.externalId, b.externalId);
    assert.equal(fake.notes.length, 1);
    assert.equal(fake.notes[0]!.format, 'plaintext');
    assert.equal(fake.notes[0]!.parent_record_id, c.id);
  });

  it('serves vehicles from the custom object when the workspace has it, and none when it does not', async () => {
    const { fake, crm } = await setup();
    const c = await crm.createCustomer({ firstName: 'Ana', lastName: 'García' });
    assert.deepEqual(await crm.listVehicles({ customerId: c.id }), []);
    await assert.rejects(crm.addVehicle({ customerId: c.id, vin: '1HGCM82633A004352' }), (e: unknown) => isPluginError(e) && e.category === 'invalid_request');
    const { fake: withVehicles, crm: crm2 } = await setup();
    withVehicles.objects.add('vehicles');
    const c2 = await crm2.createCustomer({ firstName: 'Ana', lastName: 'García' });
    const v = await crm2.addVehicle({ customerId: c2.id, vin: '1HGCM82633A004352', year: 2003, make: 'Honda', model: 'Accord' });
    const list = await crm2.listVehicles({ customerId: c2.id });
    assert.deepEqual(list, [{ id: v.id, customerId: c2.id, vin: '1HGCM82633A004352', year: 2003, make: 'Honda', model: 'Accord' }]);
    assert.equal(fake.records.get('vehicles'), undefined);
  });
});
