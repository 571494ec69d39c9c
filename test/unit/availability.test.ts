import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  candidateSlots, freeSlots, nextFreeSlots, resolveBookingStart, firstFreeResource,
  type AvailabilityConfig, type BusyMs,
} from '../../core/scheduling/availability.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { isServiceLaneError } from '../../core/errors.js';

const demo = parseDealershipConfig(JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')));

/** The demo dealership with overrides (validated, so the test config is one a tenant could really have). */
function config(over: Partial<AvailabilityConfig> & Record<string, unknown> = {}): AvailabilityConfig {
  return parseDealershipConfig({ ...demo, ...over });
}

/** Open 00:00–06:00 every day, 30-minute grid, 30-minute service: wide enough to cover the DST switch at 02:00. */
function nightShift(timezone: string): AvailabilityConfig {
  const night = [{ open: '00:00', close: '06:00' }];
  return config({
    timezone,
    businessHours: { mon: night, tue: night, wed: night, thu: night, fri: night, sat: night, sun: night },
    slotGranularityMin: 30,
    bookingHorizonDays: 365,
    serviceTypes: [{ id: 'quick', name: 'Quick check', durationMin: 30 }],
  });
}

const at = (iso: string): Date => new Date(iso);
const localTimes = (slots: { start: string }[]): string[] => slots.map((s) => s.start.slice(11, 16));

function expectInvalid(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => isServiceLaneError(e) && e.code === 'VOI_ERR_BOOKING_INVALID' && (e.details as { reason: string }).reason === reason);
}

describe('availability: slot generation', () => {
  const now = at('2027-03-01T12:00:00Z'); // 04:00 on 1 March in Los Angeles

  it('offers every 15-minute start whose whole service fits before closing', () => {
    const slots = freeSlots({ config: demo, date: '2027-03-10', serviceType: 'oil_change', now, busy: [] });
    assert.equal(slots.length, 40); // 07:30 … 17:15, the 45-minute job ends at 18:00
    assert.equal(slots[0]!.start, '2027-03-10T07:30:00-08:00');
    assert.equal(slots[0]!.end, '2027-03-10T08:15:00-08:00');
    assert.equal(slots.at(-1)!.start, '2027-03-10T17:15:00-08:00');
    assert.equal(slots.at(-1)!.end, '2027-03-10T18:00:00-08:00');
    assert.ok(slots.every((s) => s.resourceId === 'bay-1'));
  });

  it('uses the dealership offset of the date itself (PDT after the switch)', () => {
    const slots = freeSlots({ config: demo, date: '2027-03-15', serviceType: 'tire_rotation', now, busy: [] });
    assert.equal(slots[0]!.start, '2027-03-15T07:30:00-07:00');
  });

  it('skips the nonexistent 02:00–02:59 on the spring-forward day (America/Los_Angeles 2027-03-14)', () => {
    const slots = freeSlots({ config: nightShift('America/Los_Angeles'), date: '2027-03-14', serviceType: 'quick', now, busy: [] });
    assert.deepEqual(localTimes(slots), ['00:00', '00:30', '01:00', '01:30', '03:00', '03:30', '04:00', '04:30', '05:00', '05:30']);
    assert.ok(!slots.some((s) => s.start.includes('T02:')), 'no 02:30 slot');
    // The 01:30 PST slot lasts 30 real minutes and so ends at 03:00 PDT.
    assert.deepEqual(slots[3], { start: '2027-03-14T01:30:00-08:00', end: '2027-03-14T03:00:00-07:00', resourceId: 'bay-1' });
    for (const s of slots) assert.equal(Date.parse(s.end) - Date.parse(s.start), 30 * 60_000);
  });

  it('offers each repeated wall time once, at its earlier occurrence, on the fall-back day (2027-11-07)', () => {
    const slots = freeSlots({ config: nightShift('America/Los_Angeles'), date: '2027-11-07', serviceType: 'quick', now, busy: [] });
    const times = localTimes(slots);
    assert.equal(new Set(times).size, times.length, 'no duplicated wall times');
    assert.equal(new Set(slots.map((s) => Date.parse(s.start))).size, slots.length, 'no duplicated instants');
    assert.deepEqual(times, ['00:00', '00:30', '01:00', '01:30', '02:00', '02:30', '03:00', '03:30', '04:00', '04:30', '05:00', '05:30']);
    assert.equal(slots[2]!.start, '2027-11-07T01:00:00-07:00');
    assert.equal(slots[3]!.start, '2027-11-07T01:30:00-07:00');
    assert.equal(slots[4]!.start, '2027-11-07T02:00:00-08:00');
    // Sorted by instant, strictly increasing.
    for (let i = 1; i < slots.length; i++) assert.ok(Date.parse(slots[i]!.start) > Date.parse(slots[i - 1]!.start));
  });

  it('keeps a zone without DST on one offset on both switch days (America/Phoenix)', () => {
    for (const date of ['2027-03-14', '2027-11-07']) {
      const slots = freeSlots({ config: nightShift('America/Phoenix'), date, serviceType: 'quick', now, busy: [] });
      assert.equal(slots.length, 12, date);
      assert.ok(slots.every((s) => s.start.endsWith('-07:00') && s.end.endsWith('-07:00')), date);
      assert.ok(slots.some((s) => s.start.includes('T02:30')), 'Arizona has a 02:30');
    }
  });

  it('handles a zone east of UTC across its own DST switch (Europe/Berlin 2027-03-28)', () => {
    const slots = freeSlots({ config: nightShift('Europe/Berlin'), date: '2027-03-28', serviceType: 'quick', now, busy: [] });
    assert.ok(!slots.some((s) => s.start.includes('T02:')));
    assert.equal(slots[0]!.start, '2027-03-28T00:00:00+01:00');
    assert.equal(slots.at(-1)!.start, '2027-03-28T05:30:00+02:00');
  });

  it('is closed on holidays and on days without hours', () => {
    assert.deepEqual(freeSlots({ config: demo, date: '2026-12-25', serviceType: 'oil_change', now: at('2026-12-01T00:00:00Z'), busy: [] }), []);
    assert.deepEqual(freeSlots({ config: demo, date: '2027-03-07', serviceType: 'oil_change', now, busy: [] }), []); // a Sunday
  });

  it('respects a midday break: no start that would run into it', () => {
    const cfg = config({ businessHours: { wed: [{ open: '08:00', close: '12:00' }, { open: '13:00', close: '17:00' }] } });
    const times = localTimes(freeSlots({ config: cfg, date: '2027-03-10', serviceType: 'brake_inspection', now, busy: [] }));
    assert.ok(times.includes('11:00'));
    assert.ok(!times.includes('11:15') && !times.includes('12:00') && !times.includes('12:45'));
    assert.ok(times.includes('13:00') && times.includes('16:00') && !times.includes('16:15'));
  });

  it('excludes slots that have already started', () => {
    const slots = freeSlots({ config: demo, date: '2027-03-10', serviceType: 'oil_change', now: at('2027-03-10T12:05:00-08:00'), busy: [] });
    assert.equal(slots[0]!.start, '2027-03-10T12:15:00-08:00');
  });

  it('refuses a past date, a date beyond the horizon, an impossible date and an unknown service', () => {
    expectInvalid(() => candidateSlots({ config: demo, date: '2027-02-27', serviceType: 'oil_change', now }), 'past');
    expectInvalid(() => candidateSlots({ config: demo, date: '2027-05-01', serviceType: 'oil_change', now }), 'beyond_horizon');
    expectInvalid(() => candidateSlots({ config: demo, date: '2099-02-30', serviceType: 'oil_change', now }), 'date');
    expectInvalid(() => candidateSlots({ config: demo, date: '2027-3-1', serviceType: 'oil_change', now }), 'date');
    expectInvalid(() => candidateSlots({ config: demo, date: "2027-03-10' or 1=1", serviceType: 'oil_change', now }), 'date');
    expectInvalid(() => candidateSlots({ config: demo, date: '2027-03-10', serviceType: 'teleport', now }), 'service_type');
    // The last day of the horizon is still bookable.
    assert.ok(candidateSlots({ config: demo, date: '2027-04-30', serviceType: 'oil_change', now }).length > 0);
  });
});

describe('availability: resources and busy time', () => {
  const now = at('2027-03-01T12:00:00Z'); // 04:00 on 1 March in Los Angeles
  const ms = (iso: string): number => Date.parse(iso);
  const busy = (start: string, end: string, resourceId?: string): BusyMs => ({ startMs: ms(start), endMs: ms(end), ...(resourceId ? { resourceId } : {}) });

  it('puts a slot on the first free resource in config order', () => {
    const b = [busy('2027-03-10T08:00:00-08:00', '2027-03-10T09:00:00-08:00', 'bay-1')];
    const slots = freeSlots({ config: demo, date: '2027-03-10', serviceType: 'oil_change', now, busy: b });
    const s800 = slots.find((s) => s.start === '2027-03-10T08:00:00-08:00');
    assert.equal(s800?.resourceId, 'bay-2');
    assert.equal(slots.find((s) => s.start === '2027-03-10T07:30:00-08:00')?.resourceId, 'bay-2', '07:30–08:15 overlaps bay-1 too');
    assert.equal(slots.find((s) => s.start === '2027-03-10T09:00:00-08:00')?.resourceId, 'bay-1', 'half-open: back-to-back is free');
  });

  it('drops a slot when every allowed resource is busy, or the whole shop is', () => {
    const all = ['bay-1', 'bay-2', 'bay-3'].map((r) => busy('2027-03-10T10:00:00-08:00', '2027-03-10T11:00:00-08:00', r));
    const times = localTimes(freeSlots({ config: demo, date: '2027-03-10', serviceType: 'tire_rotation', now, busy: all }));
    assert.ok(!times.includes('10:00') && !times.includes('10:30') && !times.includes('09:45'));
    assert.ok(times.includes('09:30') && times.includes('11:00'));
    const shop = [busy('2027-03-10T12:00:00-08:00', '2027-03-10T13:00:00-08:00')];
    const t2 = localTimes(freeSlots({ config: demo, date: '2027-03-10', serviceType: 'tire_rotation', now, busy: shop }));
    assert.ok(!t2.includes('12:00') && !t2.includes('12:45') && t2.includes('13:00'));
  });

  it('only uses resources of the kinds the service allows', () => {
    const cfg = config({
      resources: [...demo.resources, { id: 'adv-1', name: 'Advisor Kim', kind: 'advisor' }],
      serviceTypes: [...demo.serviceTypes, { id: 'consult', name: 'Consultation', durationMin: 30, resourceKinds: ['advisor'] }],
    });
    const b = [busy('2027-03-10T09:00:00-08:00', '2027-03-10T09:30:00-08:00', 'adv-1')];
    const slots = freeSlots({ config: cfg, date: '2027-03-10', serviceType: 'consult', now, busy: b });
    assert.ok(slots.every((s) => s.resourceId === 'adv-1'));
    assert.ok(!localTimes(slots).includes('09:00'));
  });

  it('honours the limit', () => {
    assert.equal(freeSlots({ config: demo, date: '2027-03-10', serviceType: 'oil_change', now, busy: [], limit: 5 }).length, 5);
  });

  it('firstFreeResource ignores intervals that only touch the slot', () => {
    const r = firstFreeResource({ resourceIds: ['a'], startMs: 100, endMs: 200, busy: [{ startMs: 0, endMs: 100, resourceId: 'a' }, { startMs: 200, endMs: 300, resourceId: 'a' }] });
    assert.equal(r, 'a');
  });

  it('finds the next free slots after a taken one, rolling over to the next open day', () => {
    const late = ['bay-1', 'bay-2', 'bay-3'].map((r) => busy('2027-03-12T16:00:00-08:00', '2027-03-12T18:00:00-08:00', r));
    const next = nextFreeSlots({ config: demo, serviceType: 'oil_change', afterMs: ms('2027-03-12T16:00:00-08:00'), now, busy: late, limit: 3, maxDays: 7 });
    // Friday evening is full; Saturday opens at 08:00.
    assert.deepEqual(next.map((s) => s.start), ['2027-03-13T08:00:00-08:00', '2027-03-13T08:15:00-08:00', '2027-03-13T08:30:00-08:00']);
  });
});

describe('availability: validating a requested start', () => {
  const now = at('2027-03-01T12:00:00Z'); // 04:00 on 1 March in Los Angeles

  it('accepts an offered slot in any offset notation for the same instant', () => {
    const a = resolveBookingStart({ config: demo, start: '2027-03-10T09:15:00-08:00', serviceType: 'oil_change', now });
    const b = resolveBookingStart({ config: demo, start: '2027-03-10T17:15:00Z', serviceType: 'oil_change', now });
    assert.equal(a.startMs, b.startMs);
    assert.equal(a.endMs - a.startMs, 45 * 60_000);
    assert.equal(a.date, '2027-03-10');
  });

  it('refuses starts off the grid, outside hours, too late to fit, past, closed or malformed', () => {
    const r = (start: string, reason: string, o: { serviceType?: string; now?: Date } = {}): void =>
      expectInvalid(() => resolveBookingStart({ config: demo, start, serviceType: o.serviceType ?? 'oil_change', now: o.now ?? now }), reason);
    r('2027-03-10T09:07:00-08:00', 'not_a_slot');
    r('2027-03-10T06:00:00-08:00', 'not_a_slot');
    r('2027-03-10T17:30:00-08:00', 'not_a_slot'); // 45 minutes would end at 18:15
    r('2027-03-10T09:00:00-08:00', 'past', { now: at('2027-03-10T09:00:00-08:00') });
    r('2027-03-07T09:00:00-08:00', 'closed');
    r('2026-12-25T09:00:00-08:00', 'closed', { now: at('2026-12-01T00:00:00Z') });
    r('2027-06-01T09:00:00-07:00', 'beyond_horizon');
    r('2027-03-10T09:00:00', 'start');
    r('tomorrow at nine', 'start');
    r('2027-02-30T09:00:00-08:00', 'start');
    r('2027-03-10T09:00:00-08:00', 'service_type', { serviceType: 'nope' });
  });

  it('accepts only the earlier occurrence of a repeated fall-back time', () => {
    const cfg = nightShift('America/Los_Angeles');
    assert.ok(resolveBookingStart({ config: cfg, start: '2027-11-07T01:30:00-07:00', serviceType: 'quick', now }));
    expectInvalid(() => resolveBookingStart({ config: cfg, start: '2027-11-07T01:30:00-08:00', serviceType: 'quick', now }), 'not_a_slot');
  });

  it('agrees with the generated slots on every DST day (each generated slot validates)', () => {
    for (const [zone, date] of [['America/Los_Angeles', '2027-03-14'], ['America/Los_Angeles', '2027-11-07'], ['America/Phoenix', '2027-03-14']] as const) {
      const cfg = nightShift(zone);
      for (const s of freeSlots({ config: cfg, date, serviceType: 'quick', now, busy: [] })) {
        const c = resolveBookingStart({ config: cfg, start: s.start, serviceType: 'quick', now });
        assert.equal(c.startMs, Date.parse(s.start));
      }
    }
  });
});
