// vehicle-nhtsa against the fake vPIC, with its cache in the real tenant schema (plugin_kv).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, vinCheckDigit, type ErrorCategory, type VehicleDecoder } from '../../core/sdk/index.js';
import vehicleNhtsa, { type NhtsaSettings } from '../../plugins/vehicle-nhtsa/index.js';
import { startFakeNhtsa, type FakeNhtsa } from '../fakes/nhtsa.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext } from '../helpers/plugin-context.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;

async function rejectsWith(p: Promise<unknown>, category: ErrorCategory, retryable?: boolean): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPluginError(e), `expected a PluginError, got ${String(e)}`);
    assert.equal(e.category, category);
    if (retryable !== undefined) assert.equal(e.retryable, retryable);
    return true;
  });
}

/** A 17-character VIN with a correct check digit, built from 16 chosen characters (position 9 computed). */
function withCheckDigit(sixteen: string): string {
  const draft = `${sixteen.slice(0, 8)}0${sixteen.slice(8)}`;
  return `${draft.slice(0, 8)}${vinCheckDigit(draft)}${draft.slice(9)}`;
}

describe('vehicle-nhtsa plugin', () => {
  let tp: TestPlatform;
  let fake: FakeNhtsa;
  let tenantId: string;

  before(async () => {
    tp = await startTestPlatform();
    fake = await startFakeNhtsa({ missingFormat: 'error' });
  });
  after(async () => {
    await fake?.close();
    await tp?.close();
  });
  beforeEach(async () => {
    // A fresh tenant per test: an empty cache, so every test sees the network behaviour it asserts.
    tenantId = (await tp.p.tenants.create({ name: 'Demo', config: demo })).id;
    fake.faults.reset();
    fake.clearRequests();
  });

  async function decoder(o: { settings?: NhtsaSettings } = {}): Promise<VehicleDecoder> {
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'vehicle-nhtsa' });
    return vehicleNhtsa.create(ctx, { settings: o.settings ?? { baseUrl: fake.url }, credentials: {} });
  }

  it('decodes a VIN through DecodeVinValues with format=json and maps make, model, year, trim and body class', async () => {
    const d = await decoder();
    assert.deepEqual(await d.decodeVin({ vin: '1HGCM82633A004352' }), {
      vin: '1HGCM82633A004352', make: 'HONDA', model: 'Accord', year: 2003, trim: 'EX-V6', bodyClass: 'Coupe',
    });
    const [req] = fake.decodeRequests('1HGCM82633A004352');
    assert.equal(req!.path, '/api/vehicles/DecodeVinValues/1HGCM82633A004352');
    assert.equal(req!.query.format, 'json');
  });

  it('serves a second identical decode from the tenant cache, also in a new instance, without reaching vPIC', async () => {
    const first = await (await decoder()).decodeVin({ vin: '3VV3B7AXXNM077525' });
    const again = await (await decoder()).decodeVin({ vin: '3vv3b7axxnm077525' });
    assert.deepEqual(again, first);
    assert.equal(first?.make, 'VOLKSWAGEN');
    assert.equal(fake.decodeRequests('3VV3B7AXXNM077525').length, 1);
    const row = await tp.p.tenants.withTenant(tenantId, (trx) => trx('plugin_kv').where({ plugin_id: 'vehicle-nhtsa', key: 'vin:3VV3B7AXXNM077525' }).first('expires_at'));
    assert.ok(row?.expires_at instanceof Date, 'the cache entry expires');
  });

  it('sends one request for concurrent decodes of the same VIN', async () => {
    const d = await decoder();
    fake.setLatency(50);
    const results = await Promise.all([1, 2, 3].map(() => d.decodeVin({ vin: '1HGCM82633A004352' })));
    assert.ok(results.every((r) => r?.model === 'Accord'));
    assert.equal(fake.decodeRequests().length, 1);
  });

  it('refuses invalid VINs before any network call', async () => {
    const d = await decoder();
    await rejectsWith(d.decodeVin({ vin: '5YJ3E1EA1KF131548' }), 'invalid_request', false); // check digit wrong
    await rejectsWith(d.decodeVin({ vin: "1' OR 1=1 --" }), 'invalid_request', false);
    await rejectsWith(d.decodeVin({ vin: '1HGCM82633A00435' }), 'invalid_request', false);
    await rejectsWith(d.decodeVin({ vin: 'x'.repeat(10_000) }), 'invalid_request', false);
    assert.equal(fake.requests.length, 0);
  });

  it('returns null when vPIC has no data for the manufacturer (ErrorCode 7), and caches that briefly', async () => {
    const vin = withCheckDigit('ZZZ00000AA000001');
    const d = await decoder();
    assert.equal(await d.decodeVin({ vin }), null);
    assert.equal(await d.decodeVin({ vin }), null);
    assert.equal(fake.decodeRequests(vin).length, 1);
    const row = await tp.p.tenants.withTenant(tenantId, (trx) => trx('plugin_kv').where({ plugin_id: 'vehicle-nhtsa', key: `vin:${vin}` }).first('expires_at'));
    assert.ok((row.expires_at as Date).getTime() - Date.now() <= 24 * 3600 * 1000, 'a negative answer is kept at most a day');
  });

  it('refuses a VIN vPIC had to correct (ErrorCode 2-5) instead of returning another vehicle\'s data', async () => {
    const vin = withCheckDigit('2T1BU4EE0DC00001');
    fake.addVehicle(vin, { Make: 'TOYOTA', Model: 'Corolla', ModelYear: 2013, ErrorCode: '4', ErrorText: '4 - VIN corrected, error in one position only', SuggestedVIN: '2T1BU4EE!DC000019' });
    const d = await decoder();
    await rejectsWith(d.decodeVin({ vin }), 'invalid_request', false);
    fake.removeVehicle(vin);
  });

  it('keeps partial data that comes with warnings such as 8 and 14 (comma-joined codes)', async () => {
    const vin = withCheckDigit('4T1BF1FK0CU00002');
    fake.addVehicle(vin, { Make: 'TOYOTA', Model: 'Camry', ModelYear: 2012, ErrorCode: '0,14', ErrorText: '0 - VIN decoded clean; 14 - Unable to provide information for all the characters' });
    const d = await decoder();
    assert.deepEqual(await d.decodeVin({ vin }), { vin, make: 'TOYOTA', model: 'Camry', year: 2012 });
    fake.removeVehicle(vin);
  });

  it('maps throttling to rate_limit, outages to upstream and a hung request to timeout, caching none of them', async () => {
    const d = await decoder({ settings: { timeoutMs: 300, baseUrl: fake.url } });
    fake.failNext(1, 429);
    await rejectsWith(d.decodeVin({ vin: '1HGCM82633A004352' }), 'rate_limit', true);
    fake.failNext(1, 503);
    await rejectsWith(d.decodeVin({ vin: '1HGCM82633A004352' }), 'upstream', true);
    fake.hangNext(1);
    await rejectsWith(d.decodeVin({ vin: '1HGCM82633A004352' }), 'timeout', true);
    assert.equal((await d.decodeVin({ vin: '1HGCM82633A004352' }))?.make, 'HONDA');
    assert.equal(fake.decodeRequests('1HGCM82633A004352').length, 4);
  });

  it('maps an unreachable vPIC to connectivity', async () => {
    const d = await decoder({ settings: { baseUrl: 'http://127.0.0.1:9' } });
    await rejectsWith(d.decodeVin({ vin: '1HGCM82633A004352' }), 'connectivity', true);
  });

  it('takes its base URL from settings, in either root or /api/vehicles form', async () => {
    const d = await decoder({ settings: { baseUrl: `${fake.url}/api/vehicles/` } });
    assert.equal((await d.decodeVin({ vin: withCheckDigit('1FTFW1ETDFC10312') }))?.make, 'FORD');
    assert.equal(fake.decodeRequests().length, 1);
  });

  it('passes its connection test against vPIC and fails it when vPIC is down', async () => {
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'vehicle-nhtsa' });
    assert.deepEqual(await vehicleNhtsa.testConnection!(ctx, { settings: { baseUrl: fake.url }, credentials: {} }), { ok: true });
    fake.setDown(true);
    const down = await vehicleNhtsa.testConnection!(ctx, { settings: { baseUrl: fake.url }, credentials: {} });
    fake.setDown(false);
    assert.equal(down.ok, false);
    assert.match(down.detail ?? '', /upstream/);
  });
});
