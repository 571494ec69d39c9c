// crm-salesforce against the fake Salesforce org (test/fakes/salesforce.ts), with ctx.store on a real tenant schema.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, type CrmConnector, type ErrorCategory } from '../../core/sdk/index.js';
import crmSalesforce, { type SalesforceSettings } from '../../plugins/crm-salesforce/index.js';
import { startFakeSalesforce, type FakeSalesforce, type FakeSalesforceOptions } from '../fakes/salesforce.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext, type TestPluginContext } from '../helpers/plugin-context.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;

async function rejectsWith(p: Promise<unknown>, category: ErrorCategory): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isPluginError(e), `expected a PluginError, got ${String(e)}`);
    assert.equal(e.category, category, e.message);
    assert.equal(e.provider, 'salesforce');
    return true;
  });
}

describe('crm-salesforce plugin', () => {
  let tp: TestPlatform;
  const fakes: FakeSalesforce[] = [];
  before(async () => { tp = await startTestPlatform(); });
  after(async () => { await Promise.all(fakes.map((f) => f.close())); await tp?.close(); });

  async function setup(o: { fake?: FakeSalesforceOptions; settings?: SalesforceSettings; refreshToken?: string | null } = {}): Promise<{ fake: FakeSalesforce; crm: CrmConnector; ctx: TestPluginContext; again: () => Promise<CrmConnector> }> {
    const fake = await startFakeSalesforce(o.fake);
    fakes.push(fake);
    const tenantId = (await tp.p.tenants.create({ name: `SF ${fakes.length}`, config: demo })).id;
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'crm-salesforce' });
    const credentials = {
      clientId: 'sf-client-id', clientSecret: 'sf-client-secret', loginUrl: fake.url,
      ...(o.refreshToken === null ? {} : { refreshToken: o.refreshToken ?? 'sf-refresh-token' }),
    };
    const make = async () => await crmSalesforce.create(ctx, { settings: o.settings ?? {}, credentials }) as CrmConnector;
    return { fake, crm: await make(), ctx, again: make };
  }

  it('finds a contact stored as "(408) 555-0123" from the caller\'s E.164 number through SOSL, never SOQL on Phone', async () => {
    const { fake, crm } = await setup();
    const c = fake.seed('Contact', { FirstName: 'Ana', LastName: 'García', Phone: '(408) 555-0123', MailingPostalCode: '94086' });
    fake.seed('Contact', { FirstName: 'Other', LastName: 'Person', Phone: '(408) 555-0999' });
    const found = await crm.findCustomers({ phone: '+14085550123' });
    assert.deepEqual(found, [{ id: c.Id, firstName: 'Ana', lastName: 'García', phone: '+14085550123', zip: '94086' }]);
    const paths = fake.requests.map((r) => decodeURIComponent(r.path));
    assert.ok(paths.some((p) => p.includes('/search?q=FIND {4085550123} IN PHONE FIELDS RETURNING Contact(')), paths.join('\n'));
    assert.ok(!paths.some((p) => /WHERE Phone/.test(p)));
  });

  it('refreshes an expired session once (401 INVALID_SESSION_ID) and retries the request', async () => {
    const { fake, crm } = await setup();
    await crm.findCustomers({ lastName: 'Nobody' });
    fake.expireTokens();
    assert.deepEqual(await crm.findCustomers({ lastName: 'Nobody' }), []);
    assert.equal(fake.tokenRequests.length, 2);
    assert.equal(fake.tokenRequests[1]!.get('grant_type'), 'refresh_token');
  });

  it('keeps a rotated refresh token in the plugin store, so the next instance uses it (the old one is dead)', async () => {
    const { fake, crm, ctx, again } = await setup({ fake: { rotateRefreshTokens: true } });
    await crm.findCustomers({ lastName: 'Nobody' });
    assert.notEqual(fake.refreshToken, 'sf-refresh-token');
    assert.equal(await ctx.store.get('refreshToken'), fake.refreshToken);
    const rotated = fake.refreshToken;
    const next = await again();
    assert.deepEqual(await next.findCustomers({ lastName: 'Nobody' }), []);
    assert.equal(fake.tokenRequests.length, 2);
    assert.equal(fake.tokenRequests[1]!.get('refresh_token'), rotated, 'the new instance refreshed with the rotated token');
  });

  it('a revoked refresh token is an auth error ("reconnect Salesforce") and no API request is made', async () => {
    const { fake, crm } = await setup({ refreshToken: 'revoked-token-123' });
    await rejectsWith(crm.findCustomers({ lastName: 'Nobody' }), 'auth');
    assert.equal(fake.requests.length, 0);
  });

  it('uses the client-credentials grant when no refresh token is configured', async () => {
    const { fake, crm } = await setup({ refreshToken: null });
    await crm.findCustomers({ lastName: 'Nobody' });
    assert.equal(fake.tokenRequests[0]!.get('grant_type'), 'client_credentials');
  });

  it('maps the org limit (403 REQUEST_LIMIT_EXCEEDED) to rate_limit and a REQUIRED_FIELD_MISSING array to invalid_request', async () => {
    const { fake, crm } = await setup({ fake: { apiLimit: 3 } });
    await rejectsWith(crm.createCustomer({ firstName: 'A', lastName: '' }), 'invalid_request');
    fake.setApiUsage(3);
    await rejectsWith(crm.findCustomers({ lastName: 'Nobody' }), 'rate_limit');
  });

  it('logs a call as a completed Call Task once per call id, and pauses call logging near the daily API limit', async () => {
    const { fake, crm } = await setup({ fake: { apiLimit: 100 }, settings: { apiUsageCeiling: 0.5 } });
    const c = await crm.createCustomer({ firstName: 'Ana', lastName: 'García', phone: '+14085550123' });
    const call = { customerId: c.id, callId: 'CA0123456789abcdef0123456789abcdef', startedAt: '2026-03-02T17:00:00Z', durationMs: 184_400, summary: 'Booked an oil change.', outcome: 'booked' as const };
    const a = await crm.logInteraction(call);
    const b = await crm.logInteraction(call);
    assert.equal(a.externalId, b.externalId);
    const tasks = fake.records.get('Task') ?? [];
    assert.equal(tasks.length, 1);
    assert.deepEqual(
      { WhoId: tasks[0]!.WhoId, TaskSubtype: tasks[0]!.TaskSubtype, CallType: tasks[0]!.CallType, CallDurationInSeconds: tasks[0]!.CallDurationInSeconds, CallDisposition: tasks[0]!.CallDisposition, Status: tasks[0]!.Status, ActivityDate: tasks[0]!.ActivityDate },
      { WhoId: c.id, TaskSubtype: 'Call', CallType: 'Inbound', CallDurationInSeconds: 184, CallDisposition: 'Booked service', Status: 'Completed', ActivityDate: '2026-03-02' },
    );
    fake.setApiUsage(60);
    await crm.findCustomers({ lastName: 'García' }); // reads go on, and carry the usage header
    await rejectsWith(crm.logInteraction({ ...call, callId: 'CAffffffffffffffffffffffffffffffff' }), 'rate_limit');
    assert.equal((fake.records.get('Task') ?? []).length, 1, 'no task written past the ceiling');
  });

  it('reads vehicles from a configured Asset mapping', async () => {
    const { fake, crm } = await setup({ settings: { vehicles: { object: 'Asset', contactField: 'ContactId', vinField: 'SerialNumber', yearField: 'Year__c', makeField: 'Make__c', modelField: 'Model__c', mileageField: 'Mileage__c' } } });
    const c = fake.seed('Contact', { FirstName: 'Ana', LastName: 'García' });
    fake.seed('Asset', { ContactId: c.Id, Name: '2019 Honda Civic', SerialNumber: '2hgfc2f59kh000001', Year__c: 2019, Make__c: 'Honda', Model__c: 'Civic' });
    const list = await crm.listVehicles({ customerId: c.Id });
    assert.equal(list.length, 1);
    assert.deepEqual({ ...list[0], id: undefined }, { id: undefined, customerId: c.Id, vin: '2HGFC2F59KH000001', year: 2019, make: 'Honda', model: 'Civic' });
  });
});
