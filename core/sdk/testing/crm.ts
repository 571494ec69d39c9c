import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import type { Customer } from '../contracts/common.js';
import { assertDto, assertNoPiiInLogs, describeConformance, expectRejection, faultScenarios } from './common.js';
import type { ConformanceHarness } from './harness.js';
import { customerSchema, serviceRecordSchema, vehicleSchema } from './schemas.js';

/** Fixtures for {@link describeCrmConnector}; all have defaults. */
export interface CrmFixtures {
  /** An id in the vendor's id format that matches no customer (default: a v4-shaped UUID). */
  unknownId: string;
  /** The VIN used for addVehicle (default: 1HGCM82633A004352). */
  vin: string;
}

const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

/**
 * The CRM connector contract, as mocha scenarios: create → find by E.164 phone → find by case-insensitive
 * name prefix → read by id → (vehicles) add and list → service history → (interactions) log a call; unknown
 * ids and phones give `null`/`[]`; an aborted signal rejects; vendor 401/429/5xx/hangs surface as PluginError
 * categories; DTOs carry no vendor fields; PII stays under `pii` in logs.
 *
 * @example
 * ```ts
 * import { describeCrmConnector } from '../core/sdk/testing/index.js';
 * describeCrmConnector(manifest, { settings: {}, credentials: { apiKey: 'k', baseUrl: fake.url }, setup: ... });
 * ```
 */
export function describeCrmConnector<S, C>(manifest: PluginManifest<'crm', S, C> | AnyPluginManifest, harness: ConformanceHarness<CrmFixtures>): void {
  describeConformance({
    kind: 'crm',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { unknownId: '0e0b7a3c-5d1f-4b6e-9c2a-7f3e1d2c4b5a', vin: '1HGCM82633A004352' },
    scenarios: (state) => {
      const caps = manifest.capabilities;
      const person = { firstName: 'Conformance', lastName: `Tester${letters(6)}`, phone: `+140855501${String(Math.floor(Math.random() * 100)).padStart(2, '0')}`, email: `tester.${letters(8)}@example.com`, zip: '94086' };
      let created: Customer | undefined;
      const customer = () => {
        if (!created) assert.fail('createCustomer did not succeed earlier in this suite');
        return created;
      };

      it('creates a customer and returns it as a Customer DTO', async () => {
        created = await state().instance.createCustomer({ ...person });
        assertDto(customerSchema, created, 'createCustomer result');
        assert.equal(created.firstName, person.firstName);
        assert.equal(created.lastName, person.lastName);
        assert.equal(created.phone, person.phone, 'phone comes back in E.164');
      });

      it('finds the customer by exact E.164 phone', async () => {
        const found = await state().instance.findCustomers({ phone: person.phone });
        found.forEach((c, i) => assertDto(customerSchema, c, `findCustomers(phone)[${i}]`));
        assert.ok(found.some((c) => c.id === customer().id), 'the created customer is among the results');
      });

      it('finds the customer by a lower-case prefix of the last name', async () => {
        const found = await state().instance.findCustomers({ name: person.lastName.slice(0, 8).toLowerCase() });
        found.forEach((c, i) => assertDto(customerSchema, c, `findCustomers(name)[${i}]`));
        assert.ok(found.some((c) => c.id === customer().id), 'the created customer is among the results');
      });

      it('finds the customer by exact last name (any case), and not by a prefix of it', async () => {
        const found = await state().instance.findCustomers({ lastName: person.lastName.toUpperCase(), limit: 41 });
        found.forEach((c, i) => assertDto(customerSchema, c, `findCustomers(lastName)[${i}]`));
        assert.ok(found.some((c) => c.id === customer().id), 'the created customer is among the results');
        assert.ok(found.every((c) => c.lastName.toLowerCase() === person.lastName.toLowerCase()), 'only exact last-name matches');
        const prefix = await state().instance.findCustomers({ lastName: person.lastName.slice(0, -1) });
        assert.ok(!prefix.some((c) => c.id === customer().id), 'a prefix is not an exact match');
        const wrongFirst = await state().instance.findCustomers({ lastName: person.lastName, firstName: `${person.firstName}x` });
        assert.ok(!wrongFirst.some((c) => c.id === customer().id), 'firstName narrows exactly');
      });

      it('finds nobody for an unknown phone', async () => {
        assert.deepEqual(await state().instance.findCustomers({ phone: '+12025550199' }), []);
      });

      it('reads the customer by id, and answers null for an unknown id', async () => {
        const s = state();
        const got = await s.instance.getCustomer({ id: customer().id });
        assert.ok(got, 'getCustomer found the created customer');
        assertDto(customerSchema, got, 'getCustomer result');
        assert.equal(got.lastName, person.lastName);
        assert.equal(await s.instance.getCustomer({ id: s.fixtures.unknownId }), null);
      });

      if (caps.vehicles) {
        it('adds a vehicle to the customer and lists it', async () => {
          const s = state();
          const v = await s.instance.addVehicle({ customerId: customer().id, vin: s.fixtures.vin, year: 2003, make: 'Honda', model: 'Accord', mileage: 42000 });
          assertDto(vehicleSchema, v, 'addVehicle result');
          assert.equal(v.customerId, customer().id);
          assert.equal(v.vin, s.fixtures.vin);
          const list = await s.instance.listVehicles({ customerId: customer().id });
          list.forEach((x, i) => assertDto(vehicleSchema, x, `listVehicles[${i}]`));
          assert.ok(list.some((x) => x.id === v.id && x.vin === s.fixtures.vin));
        });
        it('lists no vehicles for an unknown customer', async () => {
          const s = state();
          assert.deepEqual(await s.instance.listVehicles({ customerId: s.fixtures.unknownId }), []);
        });
      } else {
        it('stores vehicles (pending: capability "vehicles" not declared)');
      }

      it('returns service history as ServiceRecord DTOs, and [] for an unknown customer', async () => {
        const s = state();
        const h = await s.instance.getServiceHistory({ customerId: customer().id });
        assert.ok(Array.isArray(h));
        h.forEach((r, i) => assertDto(serviceRecordSchema, r, `getServiceHistory[${i}]`));
        assert.deepEqual(await s.instance.getServiceHistory({ customerId: s.fixtures.unknownId }), []);
      });

      if (caps.interactions) {
        it('logs an interaction against the customer and returns its external id', async () => {
          const r = await state().instance.logInteraction({
            customerId: customer().id, callId: `CA${letters(32)}`, startedAt: new Date().toISOString(), durationMs: 93_000,
            summary: 'Booked an oil change for Tuesday 9:00.', outcome: 'booked',
          });
          assert.equal(typeof r.externalId, 'string');
          assert.ok(r.externalId.length > 0);
        });
      } else {
        it('logs interactions (pending: capability "interactions" not declared)');
      }

      it('rejects a call whose signal is already aborted', async () => {
        await expectRejection(state().instance.findCustomers({ phone: person.phone, signal: AbortSignal.abort() }), 'findCustomers with an aborted signal');
      });

      faultScenarios(state, 'findCustomers', (crm, signal) => crm.findCustomers({ phone: person.phone, signal }));

      it('keeps names and phone numbers out of log text (only under "pii")', () => {
        assertNoPiiInLogs(state().ctx.logs, [person.lastName, person.phone, person.phone.slice(2), person.email]);
      });
    },
  });
}
