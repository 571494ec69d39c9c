import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import type { AppointmentDto, BusyInterval } from '../contracts/common.js';
import { isPluginError } from '../errors.js';
import { assertDto, assertNoPiiInLogs, describeConformance, expectRejection, faultScenarios } from './common.js';
import type { ConformanceHarness } from './harness.js';
import { busyIntervalSchema } from './schemas.js';

/** Fixtures for {@link describeCalendarProvider}. */
export interface CalendarFixtures {
  /** A bookable resource the provider knows (default `bay-1`). */
  resourceId: string;
  /** The dealership zone the appointment carries (default America/Los_Angeles). */
  timezone: string;
  /** An external id that matches no event. */
  unknownExternalId: string;
  /**
   * Puts busy time into the calendar the way its owner would (an event seeded in the fake vendor; for a
   * `builtin` calendar, the appointments row core writes), so the suite can check `getBusy` reads it.
   */
  seedBusy?: (b: { resourceId: string; start: string; end: string }) => Promise<void>;
}

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
const overlaps = (b: BusyInterval, start: number, end: number) => Date.parse(b.start) < end && Date.parse(b.end) > start;

/**
 * The calendar provider contract: `getBusy` returns BusyInterval DTOs overlapping the window and reports busy
 * time seeded by the harness; a booking returns an external id and is idempotent on its key; with
 * capabilities `write` and `busy` the booking, its move and its cancellation show in `getBusy` (a `builtin`
 * calendar records a booking it did not get from core in its own table, so the same holds for it); cancelling an unknown id resolves or is a `not_found`
 * PluginError; an aborted signal rejects; vendor failures surface as PluginError categories.
 */
export function describeCalendarProvider<S, C>(manifest: PluginManifest<'calendar', S, C> | AnyPluginManifest, harness: ConformanceHarness<CalendarFixtures>): void {
  describeConformance({
    kind: 'calendar',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { resourceId: 'bay-1', timezone: 'America/Los_Angeles', unknownExternalId: 'conformance-unknown-event' },
    scenarios: (state) => {
      const caps = manifest.capabilities;
      const mirrors = Boolean(caps.write) && Boolean(caps.busy);
      // Three days out, on the hour, so no real booking or business-hours edge interferes.
      const day = new Date(Date.now() + 3 * 24 * HOUR);
      day.setUTCHours(17, 0, 0, 0);
      const start = day.getTime();
      const end = start + HOUR;
      const key = `conformance-${start}-${Math.random().toString(36).slice(2, 10)}`;
      const appointment = (f: CalendarFixtures, s: number, e: number): AppointmentDto => ({
        id: key, resourceId: f.resourceId, serviceType: 'oil_change', start: iso(s), end: iso(e), timezone: f.timezone,
        customer: { id: 'conformance-customer', name: 'Conformance Caller', phone: '+14085550142' },
        vehicle: { description: '2003 Honda Accord' },
      });
      let externalId: string | undefined;
      const booked = () => externalId ?? assert.fail('createAppointment did not succeed earlier in this suite');
      const busyAt = async (s: number, e: number) => {
        const f = state().fixtures;
        const list = await state().instance.getBusy({ from: iso(s - HOUR), to: iso(e + HOUR), resourceIds: [f.resourceId] });
        return list.filter((b) => overlaps(b, s, e) && (!caps.perResource || b.resourceId === undefined || b.resourceId === f.resourceId));
      };

      it('returns busy intervals as BusyInterval DTOs that overlap the window', async () => {
        const from = Date.now();
        const to = from + 7 * 24 * HOUR;
        const list = await state().instance.getBusy({ from: iso(from), to: iso(to) });
        assert.ok(Array.isArray(list));
        list.forEach((b, i) => {
          assertDto(busyIntervalSchema, b, `getBusy[${i}]`);
          assert.ok(Date.parse(b.start) < Date.parse(b.end), `getBusy[${i}] starts before it ends`);
          assert.ok(overlaps(b, from, to), `getBusy[${i}] overlaps the asked window`);
        });
      });

      it('reports busy time that exists in the calendar', async function () {
        const f = state().fixtures;
        if (!f.seedBusy) { this.skip(); return; }
        const s = start + 5 * HOUR;
        await f.seedBusy({ resourceId: f.resourceId, start: iso(s), end: iso(s + HOUR) });
        const found = await busyAt(s, s + HOUR);
        assert.ok(found.length > 0, 'the seeded busy time is reported');
        found.forEach((b, i) => assertDto(busyIntervalSchema, b, `getBusy[${i}]`));
      });

      it('books an appointment and returns its external id', async () => {
        const r = await state().instance.createAppointment({ appointment: appointment(state().fixtures, start, end), idempotencyKey: key });
        assert.equal(typeof r.externalId, 'string');
        assert.ok(r.externalId.length > 0);
        externalId = r.externalId;
      });

      it('returns the same external id when the same booking is retried with its idempotency key', async () => {
        const again = await state().instance.createAppointment({ appointment: appointment(state().fixtures, start, end), idempotencyKey: key });
        assert.equal(again.externalId, booked());
      });

      if (mirrors) {
        it('reports the booked time as busy', async () => {
          assert.ok((await busyAt(start, end)).length > 0, 'a busy interval covers the booking');
        });
      } else {
        it('reflects bookings in getBusy (pending: needs capabilities "write" and "busy")');
      }

      if (mirrors) {
        it('moves the appointment: the new time is busy and the old time is free', async () => {
          await state().instance.updateAppointment({ externalId: booked(), appointment: appointment(state().fixtures, start + 2 * HOUR, end + 2 * HOUR) });
          assert.ok((await busyAt(start + 2 * HOUR, end + 2 * HOUR)).length > 0, 'the new time is busy');
          assert.equal((await busyAt(start, end)).length, 0, 'the old time is free');
        });

        it('cancels the appointment: its time is free again', async () => {
          assert.ok((await busyAt(start + 2 * HOUR, end + 2 * HOUR)).length > 0, 'busy before the cancellation');
          await state().instance.cancelAppointment({ externalId: booked(), reason: 'conformance run' });
          assert.equal((await busyAt(start + 2 * HOUR, end + 2 * HOUR)).length, 0, 'the cancelled time is free');
        });
      } else {
        // Without busy time to read back there is nothing observable to assert: report them as pending.
        it('moves the appointment (pending: needs capabilities "write" and "busy")');
        it('cancels the appointment (pending: needs capabilities "write" and "busy")');
      }

      it('resolves, or fails with not_found, when cancelling an unknown event', async () => {
        try {
          await state().instance.cancelAppointment({ externalId: state().fixtures.unknownExternalId });
        } catch (e) {
          assert.ok(isPluginError(e) && e.category === 'not_found', `expected a not_found PluginError, got ${String(e)}`);
        }
      });

      it('rejects a call whose signal is already aborted', async () => {
        await expectRejection(state().instance.getBusy({ from: iso(start), to: iso(end), signal: AbortSignal.abort() }), 'getBusy with an aborted signal');
      });

      faultScenarios(state, 'getBusy', (cal, signal) => cal.getBusy({ from: iso(start), to: iso(end), signal }));

      it('keeps customer names and phone numbers out of log text (only under "pii")', () => {
        assertNoPiiInLogs(state().ctx.logs, ['Conformance Caller', '+14085550142']);
      });
    },
  });
}
