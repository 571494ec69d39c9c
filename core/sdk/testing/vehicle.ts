import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import { vinCheckDigit } from '../vin.js';
import { assertDto, assertNoPiiInLogs, describeConformance, expectRejection, faultScenarios } from './common.js';
import type { ConformanceHarness } from './harness.js';
import { vehicleInfoSchema } from './schemas.js';

/** Fixtures for {@link describeVehicleDecoder}. */
export interface VehicleFixtures {
  /** A VIN the vendor (or fake) decodes (default 1HGCM82633A004352, a 2003 Honda Accord). */
  knownVin: string;
  /** What `knownVin` decodes to; make compared case-insensitively. */
  expect: { year?: number; make?: string; model?: string };
  /** A VIN with a valid check digit the vendor knows nothing about. */
  unknownVin: string;
}

function withCheckDigit(vin: string): string {
  return `${vin.slice(0, 8)}${vinCheckDigit(vin)}${vin.slice(9)}`;
}

/**
 * The VIN decoder contract: a known VIN decodes to a VehicleInfo DTO echoing the VIN; an unknown (but valid)
 * VIN gives `null`, not an error; an aborted signal rejects; vendor failures surface as PluginError categories;
 * VINs stay out of log text.
 */
export function describeVehicleDecoder<S, C>(manifest: PluginManifest<'vehicle', S, C> | AnyPluginManifest, harness: ConformanceHarness<VehicleFixtures>): void {
  describeConformance({
    kind: 'vehicle',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { knownVin: '1HGCM82633A004352', expect: { year: 2003, make: 'honda', model: 'Accord' }, unknownVin: withCheckDigit('9ZZZZZ00X0Z000001') },
    scenarios: (state) => {
      it('decodes a known VIN into a VehicleInfo DTO', async () => {
        const { instance, fixtures } = state();
        const info = await instance.decodeVin({ vin: fixtures.knownVin });
        assert.ok(info, 'the known VIN decodes');
        assertDto(vehicleInfoSchema, info, 'decodeVin result');
        assert.equal(info.vin, fixtures.knownVin);
        if (fixtures.expect.year !== undefined) assert.equal(info.year, fixtures.expect.year);
        if (fixtures.expect.make !== undefined) assert.equal(info.make?.toLowerCase(), fixtures.expect.make.toLowerCase());
        if (fixtures.expect.model !== undefined) assert.equal(info.model, fixtures.expect.model);
      });

      it('answers null for a valid VIN the vendor does not know', async () => {
        const { instance, fixtures } = state();
        assert.equal(await instance.decodeVin({ vin: fixtures.unknownVin }), null);
      });

      it('rejects a call whose signal is already aborted', async () => {
        // A valid VIN not decoded before, so neither a cache hit nor VIN validation can answer first.
        await expectRejection(state().instance.decodeVin({ vin: withCheckDigit('1HGCM82600A000010'), signal: AbortSignal.abort() }), 'decodeVin with an aborted signal');
      });

      let n = 0;
      // Each fault uses a valid VIN not decoded before, so a cache can't hide the vendor failure.
      const fresh = [1, 2, 3, 4].map((i) => withCheckDigit(`1HGCM82600A00002${i}`));
      faultScenarios(state, 'decodeVin', (dec, signal) => dec.decodeVin({ vin: fresh[n++ % fresh.length]!, signal }));

      it('keeps VINs out of log text (only under "pii")', () => {
        assertNoPiiInLogs(state().ctx.logs, [state().fixtures.knownVin, state().fixtures.unknownVin]);
      });
    },
  });
}
