// crm-salesforce against the fake Salesforce org (test/fakes/salesforce.ts), with ctx.store on a real tenant schema.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError, type CrmConnector, type ErrorCategory } from '../../core/sdk/index.js';
import crmSalesforce, { type SalesforceSettings } from '../../plugins/crm-salesforce/index.js';
import { startFakeSalesforce, type FakeSalesforce, type FakeSalesforceOptions } from '../fakes/salesforce.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext, type TestPluginContext } from '../helpers/plugin-context.js';
import { validatorFor } from '../../core/sdk/testing/index.js';

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

  it('reads completed WorkOrders as service history, newest first, for the customer or one of their vehicles', async () => {
    const { fake, crm } = await setup({ settings: { vehicles: { object: 'Asset', contactField: 'ContactId', vinField: 'SerialNumber' } } });
    const ana = fake.seed('Contact', { FirstName: 'Ana', LastName: 'García' });
    const bob = fake.seed('Contact', { FirstName: 'Bob', LastName: 'Lee' });
    const civic = fake.seed('Asset', { ContactId: ana.Id, Name: '2019 Honda Civic', SerialNumber: '2HGFC2F59KH000001' });
    const crv = fake.seed('Asset', { ContactId: ana.Id, Name: '2021 Honda CR-V', SerialNumber: '7FARW2H51ME000002' });
    const oil = fake.seed('WorkOrder', { ContactId: ana.Id, AssetId: civic.Id, Status: 'Completed', EndDate: '2026-01-15T18:30:00.000+0000', Subject: 'Oil change', Description: 'Synthetic 0W-20, filter' });
    const brakes = fake.seed('WorkOrder', { ContactId: ana.Id, AssetId: crv.Id, Status: 'Completed', EndDate: '2026-02-20T16:00:00.000-0800', Subject: 'Brake pads, front' });
    fake.seed('WorkOrder', { ContactId: ana.Id, AssetId: civic.Id, Status: 'New', StartDate: '2026-04-01T16:00:00.000+0000', Subject: 'Tire rotation (booked)' });
    fake.seed('WorkOrder', { ContactId: bob.Id, Status: 'Completed', EndDate: '2026-02-01T16:00:00.000+0000', Subject: 'Alignment' });

    assert.deepEqual(await crm.getServiceHistory({ customerId: ana.Id }), [
      { id: brakes.Id, vehicleId: crv.Id, performedAt: '2026-02-21T00:00:00.000Z', serviceType: 'Brake pads, front' },
      { id: oil.Id, vehicleId: civic.Id, performedAt: '2026-01-15T18:30:00.000Z', serviceType: 'Oil change', description: 'Synthetic 0W-20, filter' },
    ]);
    assert.deepEqual((await crm.getServiceHistory({ customerId: ana.Id, vehicleId: civic.Id })).map((r) => r.id), [oil.Id]);
    assert.deepEqual((await crm.getServiceHistory({ customerId: ana.Id, limit: 1 })).map((r) => r.id), [brakes.Id]);
    const soql = fake.requests.filter((r) => r.path.startsWith('/services/data/v62.0/query')).map((r) => new URL(r.path, fake.url).searchParams.get('q')).at(-1);
    assert.equal(soql, `SELECT Id, ContactId, AssetId, EndDate, Subject, Description FROM WorkOrder WHERE ContactId = '${ana.Id}' AND Status = 'Completed' ORDER BY EndDate DESC LIMIT 1`);
    const before = fake.requests.length;
    assert.deepEqual(await crm.getServiceHistory({ customerId: "003' OR Name LIKE '%" }), [], 'a malformed id is no customer');
    assert.equal(fake.requests.length, before, 'and never reaches SOQL');
  });

  it('maps service history from a custom object through settings, a bare Date reading as that calendar day', async () => {
    const { fake, crm } = await setup({ settings: { serviceHistory: { object: 'Service_Record__c', contactField: 'Contact__c', vehicleField: 'Vehicle__c', dateField: 'Service_Date__c', typeField: 'Service_Type__c', mileageField: 'Odometer__c' } } });
    const ana = fake.seed('Contact', { FirstName: 'Ana', LastName: 'García' });
    const car = fake.seed('Vehicle__c', { Contact__c: ana.Id, VIN__c: '2HGFC2F59KH000001' });
    const visit = fake.seed('Service_Record__c', { Contact__c: ana.Id, Vehicle__c: car.Id, Service_Date__c: '2025-11-14', Service_Type__c: '30k service', Odometer__c: 30_412 });
    fake.seed('Service_Record__c', { Contact__c: ana.Id, Vehicle__c: car.Id, Service_Date__c: null, Service_Type__c: 'Quote only' });
    assert.deepEqual(await crm.getServiceHistory({ customerId: ana.Id }), [
      { id: visit.Id, vehicleId: car.Id, performedAt: '2025-11-14T12:00:00.000Z', serviceType: '30k service', mileage: 30_412 },
    ]);
  });

  it('refuses a custom service-history object without its contact, date and type fields, and a mapping that is not an API name', () => {
    assert.deepEqual(crmSalesforce.validate!({ serviceHistory: { object: 'Service_Record__c', contactField: 'Contact__c' } }), [
      'serviceHistory.dateField is required when serviceHistory.object is a custom object (Service_Record__c)',
      'serviceHistory.typeField is required when serviceHistory.object is a custom object (Service_Record__c)',
    ]);
    assert.deepEqual(crmSalesforce.validate!({ serviceHistory: { statusField: 'Status__c' } }), [], 'WorkOrder keeps its defaults');
    const valid = validatorFor(crmSalesforce.settingsSchema);
    assert.equal(valid({ serviceHistory: { object: "WorkOrder WHERE Name != ''" } }), false);
    assert.equal(valid({ serviceHistory: { object: 'Service_Record__c', contactField: 'Contact__c', dateField: 'Service_Date__c', typeField: 'Service_Type__c' } }), true);
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
