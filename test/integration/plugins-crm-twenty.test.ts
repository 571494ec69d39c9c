// crm-twenty against the protocol-faithful fake Twenty, with ctx.store on the real tenant schema.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, type CrmConnector, type ErrorCategory } from '../../core/sdk/index.js';
import crmTwenty, { type TwentySettings } from '../../plugins/crm-twenty/index.js';
import { startFakeTwenty, TWENTY_VEHICLE_OBJECT, type FakeTwenty, type FakeTwentyOptions } from '../fakes/twenty.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { newCallIdentity } from '../../core/tools/identity.js';
import { createPluginTestContext, type TestPluginContext } from '../helpers/plugin-context.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;
const KEY = 'twenty-test-key';
const CUSTOMER_KEYS = new Set(['id', 'firstName', 'lastName', 'phone', 'email', 'zip', 'notes']);

async function rejectsWith(p: Promise<unknown>, category: ErrorCategory, retryable?: boolean): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPluginError(e), `expected a PluginError, got ${String(e)}`);
    assert.equal(e.category, category);
    if (retryable !== undefined) assert.equal(e.retryable, retryable);
    assert.equal(e.provider, 'twenty');
    return true;
  });
}

describe('crm-twenty plugin', () => {
  let tp: TestPlatform;
  let tenantId: string;
  const fakes: FakeTwenty[] = [];

  before(async () => {
    tp = await startTestPlatform();
    tenantId = (await tp.p.tenants.create({ name: 'Demo', config: demo })).id;
  });
  after(async () => {
    await Promise.all(fakes.map((f) => f.close()));
    await tp?.close();
  });

  async function setup(o: { fake?: FakeTwentyOptions; settings?: TwentySettings; apiKey?: string } = {}): Promise<{ fake: FakeTwenty; crm: CrmConnector; ctx: TestPluginContext }> {
    const fake = await startFakeTwenty({ rateLimit: false, ...o.fake });
    fakes.push(fake);
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'crm-twenty' });
    const crm = await crmTwenty.create(ctx, { settings: o.settings ?? {}, credentials: { apiKey: o.apiKey ?? KEY, baseUrl: fake.url } });
    return { fake, crm, ctx };
  }

  const lastQuery = (fake: FakeTwenty, path: string): Record<string, string> => {
    const r = fake.requests.filter((x) => x.path === path).at(-1);
    assert.ok(r, `no request to ${path}`);
    return r.query;
  };

  describe('caller-ID lookup', () => {
    it('finds a person Twenty stored as national number plus calling code, with the documented filter', async () => {
      const { fake, crm } = await setup();
      const p = fake.seedPerson({ firstName: 'Maria', lastName: 'Lopez', phone: '+14155550123', email: 'maria@example.com' });
      assert.equal((fake.record('people', p.id)!.phones as Record<string, string>).primaryPhoneNumber, '4155550123', 'the fake stores the national number');
      const found = await crm.findCustomers({ phone: '+14155550123' });
      assert.deepEqual(found, [{ id: p.id, firstName: 'Maria', lastName: 'Lopez', phone: '+14155550123', email: 'maria@example.com' }]);
      const q = lastQuery(fake, '/rest/people');
      assert.equal(q.filter, 'or(phones.primaryPhoneNumber[eq]:"4155550123",phones.primaryPhoneNumber[eq]:"+14155550123",phones.primaryPhoneNumber[like]:"%4155550123")');
      assert.equal(q.depth, '0');
      assert.ok(Number(q.limit) <= 60);
    });

    it('finds people whose number was imported with the calling code inside primaryPhoneNumber', async () => {
      const { fake, crm } = await setup();
      const a = fake.seed('people', { name: { firstName: 'Ann', lastName: 'Plus' }, phones: { primaryPhoneNumber: '+14155550124' } }, { raw: true });
      const b = fake.seed('people', { name: { firstName: 'Bob', lastName: 'Digits' }, phones: { primaryPhoneNumber: '14155550125', primaryPhoneCallingCode: '+1' } }, { raw: true });
      assert.deepEqual((await crm.findCustomers({ phone: '+14155550124' })).map((c) => [c.id, c.phone]), [[a.id, '+14155550124']]);
      assert.deepEqual((await crm.findCustomers({ phone: '+14155550125' })).map((c) => [c.id, c.phone]), [[b.id, '+14155550125']]);
    });

    it('does not return a person in another country whose national number has the same digits', async () => {
      const { fake, crm } = await setup();
      fake.seed('people', { name: { firstName: 'Uk', lastName: 'Twin' }, phones: { primaryPhoneNumber: '4155550126', primaryPhoneCallingCode: '+44', primaryPhoneCountryCode: 'GB' } }, { raw: true });
      const us = fake.seedPerson({ firstName: 'Us', lastName: 'Real', phone: '+14155550126' });
      assert.deepEqual((await crm.findCustomers({ phone: '+14155550126' })).map((c) => c.id), [us.id]);
    });

    it('returns every match when a number is shared, and nothing for an unknown caller', async () => {
      const { fake, crm } = await setup();
      fake.seedPerson({ firstName: 'Pat', lastName: 'Shared', phone: '+14155550127' });
      fake.seedPerson({ firstName: 'Kim', lastName: 'Shared', phone: '+14155550127' });
      assert.equal((await crm.findCustomers({ phone: '+14155550127' })).length, 2);
      assert.deepEqual(await crm.findCustomers({ phone: '+14155550999' }), []);
    });

    it('refuses a non-E.164 phone before any request', async () => {
      const { fake, crm } = await setup();
      await rejectsWith(crm.findCustomers({ phone: '4155550123' }), 'invalid_request');
      await rejectsWith(crm.findCustomers({ phone: '+1") OR 1=1' }), 'invalid_request');
      assert.equal(fake.requests.length, 0);
    });
  });

  describe('name search', () => {
    it('matches case-insensitive prefixes of first, last and full name', async () => {
      const { fake, crm } = await setup();
      fake.seedPerson({ firstName: 'Maria', lastName: 'Lopez' });
      fake.seedPerson({ firstName: 'Mark', lastName: 'Johnson' });
      fake.seedPerson({ firstName: 'Lopa', lastName: 'Smith' });
      const names = async (name: string): Promise<string[]> => (await crm.findCustomers({ name })).map((c) => `${c.firstName} ${c.lastName}`).sort();
      assert.deepEqual(await names('LOP'), ['Lopa Smith', 'Maria Lopez']);
      assert.deepEqual(await names('maria  lo'), ['Maria Lopez']);
      assert.deepEqual(await names('mar'), ['Maria Lopez', 'Mark Johnson']);
    });

    it('keeps quotes, commas, brackets and wildcards in a name from breaking or widening the filter', async () => {
      const { fake, crm } = await setup();
      fake.seedPerson({ firstName: 'Sean', lastName: "O'Brien" });
      fake.seedPerson({ firstName: 'Sean', lastName: 'OxBrien' });
      assert.deepEqual((await crm.findCustomers({ name: "o'brien" })).map((c) => c.lastName), ["O'Brien"]);
      for (const hostile of ['") , or(id[is]:NOT_NULL', '%', '_', 'a]b[c', 'x(y', "1' OR 1=1 --"]) {
        assert.deepEqual(await crm.findCustomers({ name: hostile }), [], hostile);
      }
      assert.ok(fake.requests.every((r) => r.path !== '/rest/people' || typeof r.query.filter === 'string'));
    });

    it('refuses a 10k-character name before any request', async () => {
      const { fake, crm } = await setup();
      await rejectsWith(crm.findCustomers({ name: 'x'.repeat(10_000) }), 'invalid_request');
      assert.equal(fake.requests.length, 0);
    });

    it('follows cursors across pages until the limit is reached', async () => {
      const { fake, crm } = await setup({ fake: { maxLimit: 10 } });
      for (let i = 0; i < 45; i++) fake.seedPerson({ firstName: `P${String(i).padStart(2, '0')}`, lastName: 'Smith' });
      const got = await crm.findCustomers({ name: 'smith', limit: 40 });
      assert.equal(got.length, 40);
      assert.equal(new Set(got.map((c) => c.id)).size, 40);
      const pages = fake.requests.filter((r) => r.path === '/rest/people');
      assert.equal(pages.length, 4);
      assert.equal(pages[0]!.query.starting_after, undefined);
      assert.ok(pages.slice(1).every((r) => typeof r.query.starting_after === 'string'));
    });
  });

  describe('exact last-name lookup (caller verification)', () => {
    it('pages through all 25 people sharing a last name on a server capping pages at 10, the one wanted last', async () => {
      const { fake, crm } = await setup({ fake: { maxLimit: 10 } });
      for (let i = 0; i < 24; i++) fake.seedPerson({ firstName: `Anna${String(i).padStart(2, '0')}`, lastName: 'Okonkwo' });
      for (let i = 0; i < 5; i++) fake.seedPerson({ firstName: `Okonkwo${i}`, lastName: 'Prefixed' });
      const target = fake.seedPerson({ firstName: 'Zelda', lastName: 'Okonkwo' });
      fake.seedPerson({ firstName: 'Zelda', lastName: 'Okonkwoson' });
      assert.ok(!(await crm.findCustomers({ name: 'okonkwo' })).some((c) => c.id === target.id), 'the old prefix search misses her');
      fake.requests.length = 0;
      const all = await crm.findCustomers({ lastName: 'okonkwo', limit: 41 });
      assert.equal(all.length, 25);
      assert.ok(all.some((c) => c.id === target.id));
      assert.equal(new Set(all.map((c) => c.id)).size, 25);
      const pages = fake.requests.filter((r) => r.path === '/rest/people');
      assert.equal(pages.length, 3);
      assert.equal(pages[0]!.query.filter, 'name.lastName[ilike]:"okonkwo"');
      assert.deepEqual((await crm.findCustomers({ lastName: 'Okonkwo', firstName: 'ZELDA' })).map((c) => c.id), [target.id]);
      assert.deepEqual(await crm.findCustomers({ lastName: 'Okonk' }), []);
    });

    it('lets verify_customer (through the Toolbox) find the 25th person sharing a last name in a Twenty tenant', async () => {
      const fake = await startFakeTwenty({ rateLimit: false, maxLimit: 10, customObjects: [] });
      fakes.push(fake);
      // No vehicle slot: crm-twenty doesn't declare `vehicles`, so such a tenant verifies by ZIP.
      const { vehicle: _vehicle, ...plugins } = (demo as { plugins: Record<string, unknown> }).plugins;
      const t = await tp.p.tenants.create({ name: 'Twenty shop', config: { ...(demo as object), plugins: { ...plugins, crm: { plugin: 'crm-twenty', credentialsRef: 'twenty', settings: { zipField: 'city' } } } } });
      await tp.p.tenants.putCredential(t.id, 'twenty', { apiKey: KEY, baseUrl: fake.url });
      for (let i = 0; i < 24; i++) fake.seedPerson({ firstName: `Anna${String(i).padStart(2, '0')}`, lastName: 'Okonkwo', city: '11111' });
      for (let i = 0; i < 5; i++) fake.seedPerson({ firstName: `Okonkwo${i}`, lastName: 'Prefixed' });
      const target = fake.seedPerson({ firstName: 'Zelda', lastName: 'Okonkwo', city: '60601' });
      const id = newCallIdentity({ tenantId: t.id, callSid: 'CA25thokonkwo', callerPhone: null });
      const out = await tp.p.toolbox.execute(id, { name: 'verify_customer', arguments: JSON.stringify({ first_name: null, last_name: 'okonkwo', vin_last4: null, zip: '60601' }) });
      assert.equal(out.ok, true, out.content);
      assert.equal(out.identity.verifiedCustomerId, target.id);
    });

    it('fails instead of answering a partial list when the page budget runs out', async () => {
      const { fake, crm } = await setup({ fake: { maxLimit: 2 } });
      for (let i = 0; i < 30; i++) fake.seedPerson({ firstName: `P${String(i).padStart(2, '0')}`, lastName: 'Many' });
      await rejectsWith(crm.findCustomers({ lastName: 'many', limit: 41 }), 'upstream', false);
      assert.equal(fake.requests.filter((r) => r.path === '/rest/people').length, 10);
    });
  });

  describe('people', () => {
    it('creates a person with the national number apart from the calling code, then finds it by caller ID', async () => {
      const { fake, crm } = await setup();
      const c = await crm.createCustomer({ firstName: ' Dana ', lastName: 'New', phone: '+14155550130', email: 'dana@example.com' });
      assert.deepEqual(fake.record('people', c.id)!.phones, { primaryPhoneNumber: '4155550130', primaryPhoneCountryCode: 'US', primaryPhoneCallingCode: '+1', additionalPhones: null });
      assert.deepEqual(c, { id: c.id, firstName: 'Dana', lastName: 'New', phone: '+14155550130', email: 'dana@example.com' });
      assert.deepEqual((await crm.findCustomers({ phone: '+14155550130' })).map((x) => x.id), [c.id]);
      assert.equal((await crm.getCustomer({ id: c.id }))?.firstName, 'Dana');
      assert.equal(await crm.getCustomer({ id: '00000000-0000-4000-8000-000000000000' }), null);
      assert.equal(await crm.getCustomer({ id: 'not-a-uuid' }), null);
    });

    it('maps a duplicate email to conflict and bad fields to invalid_request, writing nothing', async () => {
      const { fake, crm } = await setup();
      await crm.createCustomer({ firstName: 'A', lastName: 'One', email: 'dup@example.com' });
      await rejectsWith(crm.createCustomer({ firstName: 'B', lastName: 'Two', email: 'dup@example.com' }), 'conflict');
      await rejectsWith(crm.createCustomer({ firstName: 'x'.repeat(10_000), lastName: 'Y' }), 'invalid_request');
      await rejectsWith(crm.createCustomer({ firstName: 'A', lastName: 'B', phone: '555' }), 'invalid_request');
      assert.equal(fake.records('people').length, 1);
    });

    it('reads and writes the ZIP through the configured custom field', async () => {
      const { fake, crm } = await setup({
        fake: { customObjects: [] }, settings: { zipField: 'city' },
      });
      const c = await crm.createCustomer({ firstName: 'Zed', lastName: 'Zip', zip: '94086' });
      assert.equal(fake.record('people', c.id)!.city, '94086');
      assert.equal((await crm.getCustomer({ id: c.id }))?.zip, '94086');
    });

    it('never lets vendor fields through the DTO', async () => {
      const { fake, crm } = await setup();
      fake.seedPerson({ firstName: 'Vi', lastName: 'Dto', phone: '+14155550131', city: 'Austin', jobTitle: 'CTO' });
      const [c] = await crm.findCustomers({ phone: '+14155550131' });
      assert.ok(c);
      for (const k of Object.keys(c)) assert.ok(CUSTOMER_KEYS.has(k), `unexpected key ${k}`);
    });
  });

  describe('call logs', () => {
    for (const [style, bodyField, metadataFormat] of [
      ['target', 'bodyV2', 'legacy'],
      ['legacy', 'body', 'direct'],
      ['target', 'body', 'direct'],
      ['legacy', 'bodyV2', 'legacy'],
    ] as const) {
      it(`links the note with ${style === 'target' ? 'targetPersonId' : 'personId'} and writes ${bodyField} (metadata ${metadataFormat} envelope)`, async () => {
        const { fake, crm } = await setup({ fake: { noteTargetStyle: style, bodyField, metadataFormat } });
        const p = fake.seedPerson({ firstName: 'Nora', lastName: 'Note', phone: '+14155550140' });
        const { externalId } = await crm.logInteraction({
          customerId: p.id, callId: 'CA100', startedAt: '2026-03-02T22:05:00Z', durationMs: 192_000, summary: 'Booked an oil change for Friday 9am.', outcome: 'booked',
        });
        const note = fake.record('notes', externalId)!;
        assert.equal(note.title, 'Call 2026-03-02 14:05 - booked');
        const text = bodyField === 'bodyV2' ? (note.bodyV2 as { markdown: string }).markdown : note.body as string;
        assert.match(text, /^Booked an oil change for Friday 9am\./);
        assert.match(text, /Outcome: booked/);
        const targets = fake.records('noteTargets');
        assert.equal(targets.length, 1);
        assert.equal(targets[0]![style === 'target' ? 'targetPersonId' : 'personId'], p.id);
        assert.equal(targets[0]!.noteId, externalId);
        // Discovery came from metadata, so no write was tried and refused.
        assert.ok(fake.requests.every((r) => r.method === 'GET' || r.path === '/rest/notes' || r.path === '/rest/noteTargets'));
        assert.equal(fake.requests.filter((r) => r.method === 'POST').length, 2);
      });
    }

    it('falls back once on the 400 when metadata is not readable, then remembers the workspace\'s naming', async () => {
      const { fake, crm } = await setup({ fake: { noteTargetStyle: 'legacy', bodyField: 'body' } });
      fake.failNext(5, 403, { match: { path: '/rest/metadata/objects' }, body: { statusCode: 403, error: 'FORBIDDEN_EXCEPTION', messages: ['Forbidden resource'] } });
      const p = fake.seedPerson({ firstName: 'Leo', lastName: 'Legacy' });
      const base = { customerId: p.id, startedAt: '2026-03-02T22:05:00Z', durationMs: 1000, summary: 'Asked about hours', outcome: 'info' as const };
      await crm.logInteraction({ ...base, callId: 'CA200' });
      assert.equal(fake.records('noteTargets')[0]!.personId, p.id);
      assert.equal(typeof fake.records('notes')[0]!.body, 'string');
      fake.clearRequests();
      await crm.logInteraction({ ...base, callId: 'CA201' });
      assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), ['POST /rest/notes', 'POST /rest/noteTargets']);
      assert.equal(fake.records('noteTargets').length, 2);
    });

    it('is idempotent: a retried log of the same call creates no second note or link', async () => {
      const { fake, crm } = await setup();
      const p = fake.seedPerson({ firstName: 'Ida', lastName: 'Empotent' });
      const o = { customerId: p.id, callId: 'CA300', startedAt: '2026-03-02T22:05:00Z', durationMs: 5000, summary: 'Cancelled', outcome: 'cancelled' as const };
      const a = await crm.logInteraction(o);
      const b = await crm.logInteraction(o);
      assert.equal(a.externalId, b.externalId);
      assert.equal(fake.records('notes').length, 1);
      assert.equal(fake.records('noteTargets').length, 1);
    });

    it('creates a linked TODO task when the outcome is a callback', async () => {
      const { fake, crm } = await setup();
      const p = fake.seedPerson({ firstName: 'Cal', lastName: 'Back' });
      await crm.logInteraction({ customerId: p.id, callId: 'CA400', startedAt: '2026-03-02T22:05:00Z', durationMs: 5000, summary: 'Wants a loaner', outcome: 'callback' });
      const [task] = fake.records('tasks');
      assert.ok(task);
      assert.equal(task.status, 'TODO');
      assert.equal(fake.records('taskTargets')[0]!.targetPersonId, p.id);
      assert.equal(fake.records('taskTargets')[0]!.taskId, task.id);
    });

    it('refuses malformed call data before any request', async () => {
      const { fake, crm } = await setup();
      const ok = { customerId: '00000000-0000-4000-8000-000000000000', callId: 'CA1', startedAt: '2026-03-02T22:05:00Z', durationMs: 1, summary: 's', outcome: 'info' as const };
      await rejectsWith(crm.logInteraction({ ...ok, customerId: 'x' }), 'not_found');
      await rejectsWith(crm.logInteraction({ ...ok, startedAt: '2099-02-30T10:00:00Z' }), 'invalid_request');
      await rejectsWith(crm.logInteraction({ ...ok, outcome: 'wipe' as 'info' }), 'invalid_request');
      assert.equal(fake.requests.length, 0);
    });
  });

  describe('vehicles', () => {
    it('lists and adds vehicles on the custom object, linked through the owner relation', async () => {
      const { fake, crm } = await setup({ fake: { customObjects: [TWENTY_VEHICLE_OBJECT] } });
      const p = fake.seedPerson({ firstName: 'Vic', lastName: 'Owner' });
      const v = await crm.addVehicle({ customerId: p.id, vin: '1hgcm82633a004352', year: 2003, make: 'Honda', model: 'Accord', mileage: 120_000 });
      assert.deepEqual(v, { id: v.id, customerId: p.id, vin: '1HGCM82633A004352', year: 2003, make: 'Honda', model: 'Accord', mileage: 120_000 });
      assert.equal(fake.record('vehicles', v.id)!.ownerId, p.id);
      assert.equal(fake.record('vehicles', v.id)!.name, '2003 Honda Accord');
      assert.deepEqual(await crm.listVehicles({ customerId: p.id }), [v]);
      assert.equal(lastQuery(fake, '/rest/vehicles').filter, `ownerId[eq]:"${p.id}"`);
    });

    it('pages through a long vehicle list', async () => {
      const { fake, crm } = await setup({ fake: { customObjects: [TWENTY_VEHICLE_OBJECT] } });
      const p = fake.seedPerson({ firstName: 'Fleet', lastName: 'Owner' });
      for (let i = 0; i < 75; i++) fake.seed('vehicles', { name: `Van ${i}`, make: 'Ford', ownerId: p.id });
      const list = await crm.listVehicles({ customerId: p.id });
      assert.equal(list.length, 75);
      assert.equal(new Set(list.map((v) => v.id)).size, 75);
      assert.equal(fake.requests.filter((r) => r.path === '/rest/vehicles').length, 2);
    });

    it('refuses a VIN already on file with conflict and writes nothing', async () => {
      const { fake, crm } = await setup({ fake: { customObjects: [TWENTY_VEHICLE_OBJECT] } });
      const p = fake.seedPerson({ firstName: 'Dup', lastName: 'Vin' });
      await crm.addVehicle({ customerId: p.id, vin: '1HGCM82633A004352' });
      await rejectsWith(crm.addVehicle({ customerId: p.id, vin: '1HGCM82633A004352' }), 'conflict');
      await rejectsWith(crm.addVehicle({ customerId: p.id, vin: "1' OR 1=1 --" }), 'invalid_request');
      assert.equal(fake.records('vehicles').length, 1);
    });

    it('reports no vehicles when the workspace has no vehicles object', async () => {
      const { fake, crm } = await setup();
      const p = fake.seedPerson({ firstName: 'No', lastName: 'Cars' });
      assert.deepEqual(await crm.listVehicles({ customerId: p.id }), []);
      await rejectsWith(crm.addVehicle({ customerId: p.id, make: 'Ford' }), 'invalid_request', false);
      assert.equal(crmTwenty.capabilities.vehicles, false);
    });
  });

  describe('vendor failures', () => {
    it('maps a rejected or expired API key to auth', async () => {
      const { crm } = await setup({ apiKey: 'wrong-key-123' });
      await rejectsWith(crm.findCustomers({ phone: '+14155550123' }), 'auth', false);
      const { fake, crm: crm2 } = await setup();
      fake.expireApiKey(KEY);
      await rejectsWith(crm2.findCustomers({ phone: '+14155550123' }), 'auth', false);
    });

    it('maps 429 to rate_limit and 500 to upstream, both retryable, writing nothing', async () => {
      const { fake, crm } = await setup();
      fake.failNext(1, 429);
      await rejectsWith(crm.findCustomers({ phone: '+14155550123' }), 'rate_limit', true);
      fake.failNext(1, 500);
      await rejectsWith(crm.createCustomer({ firstName: 'Five', lastName: 'Hundred' }), 'upstream', true);
      assert.equal(fake.records('people').length, 0);
    });

    it('maps the real rate limiter\'s 429 to rate_limit', async () => {
      const { fake, crm } = await setup({ fake: { rateLimit: { short: { limit: 1, ttlMs: 60_000 }, long: { limit: 100, ttlMs: 60_000 } } } });
      await crm.findCustomers({ phone: '+14155550123' });
      await rejectsWith(crm.findCustomers({ phone: '+14155550123' }), 'rate_limit', true);
      assert.equal(fake.requests.length, 2);
    });

    it('maps a request that never answers to timeout', async () => {
      const { fake, crm } = await setup({ settings: { timeoutMs: 300 } });
      fake.hangNext(1);
      await rejectsWith(crm.findCustomers({ phone: '+14155550123' }), 'timeout', true);
    });

    it('maps a refused connection to connectivity', async () => {
      const { fake, crm } = await setup();
      await fake.close();
      await rejectsWith(crm.findCustomers({ phone: '+14155550123' }), 'connectivity', true);
    });

    it('keeps vendor messages (which can echo phones) out of error messages and log text', async () => {
      const { fake, crm, ctx } = await setup();
      fake.failNext(1, 400, { body: { statusCode: 400, error: 'BadRequestException', messages: ['Provided phone number is invalid +14155550123'] } });
      await assert.rejects(crm.findCustomers({ phone: '+14155550123' }), (e: Error) => !e.message.includes('4155550123'));
      for (const line of ctx.logs) {
        const { pii: _pii, ...rest } = line.obj as { pii?: unknown };
        assert.ok(!JSON.stringify(rest).includes('4155550123') && !(line.msg ?? '').includes('4155550123'));
      }
    });
  });

  describe('testConnection', () => {
    it('answers ok for a working key and explains a rejected one', async () => {
      const fake = await startFakeTwenty({ rateLimit: false });
      fakes.push(fake);
      const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'crm-twenty' });
      assert.deepEqual(await crmTwenty.testConnection!(ctx, { settings: {}, credentials: { apiKey: KEY, baseUrl: `${fake.url}/rest/` } }), { ok: true });
      const bad = await crmTwenty.testConnection!(ctx, { settings: {}, credentials: { apiKey: 'nope-nope', baseUrl: fake.url } });
      assert.equal(bad.ok, false);
      assert.match(bad.detail ?? '', /API key rejected/);
      assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), ['GET /rest/people', 'GET /rest/people']);
    });
  });
});
