import assert from 'node:assert/strict';
import { DateTime } from 'luxon';
import { effectiveWindow, isCallAllowed, nextAllowedTime, type CallWindowPolicy } from '../../core/outbound/call-window.js';

const NY: CallWindowPolicy = { timezone: 'America/New_York', callWindow: { start: '08:00', end: '20:00' } };
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const next = (due: string, policy: CallWindowPolicy, calleeZone?: string) => iso(nextAllowedTime({ due: new Date(due), policy, ...(calleeZone ? { calleeZone } : {}) }));

describe('call window (next allowed time for a due reminder)', () => {
  it('keeps a due time inside the window exactly as it is', () => {
    assert.equal(next('2027-01-05T15:00:00.000Z', NY), '2027-01-05T15:00:00.000Z'); // 10:00 EST
    assert.equal(isCallAllowed({ now: new Date('2027-01-05T15:00:00Z'), policy: NY }), true);
    assert.equal(isCallAllowed({ now: new Date('2027-01-05T12:59:59Z'), policy: NY }), false); // 07:59:59 EST
  });

  it('moves a reminder due at 02:30 on the spring-forward night to 08:00 EDT (12:00Z), not 08:00 EST (13:00Z)', () => {
    // 02:30 does not exist in New York on 2027-03-14; luxon (like a clock) reads it as 03:30 EDT = 07:30Z.
    const due = DateTime.fromObject({ year: 2027, month: 3, day: 14, hour: 2, minute: 30 }, { zone: 'America/New_York' });
    assert.equal(due.toUTC().toISO(), '2027-03-14T07:30:00.000Z');
    assert.equal(next(due.toUTC().toISO()!, NY), '2027-03-14T12:00:00.000Z');
    // The instant just before the jump (01:30 EST) goes to the same opening.
    assert.equal(next('2027-03-14T06:30:00.000Z', NY), '2027-03-14T12:00:00.000Z');
  });

  it('moves a reminder due at 22:00 to 08:00 the next morning, across the fall-back night too', () => {
    assert.equal(next('2027-03-16T02:00:00.000Z', NY), '2027-03-16T12:00:00.000Z'); // Mon 22:00 EDT → Tue 08:00 EDT
    assert.equal(next('2027-11-07T02:00:00.000Z', NY), '2027-11-07T13:00:00.000Z'); // Sat 22:00 EDT → Sun 08:00 EST (after fall-back)
    assert.equal(next('2027-11-07T05:30:00.000Z', NY), '2027-11-07T13:00:00.000Z'); // the first 01:30 → 08:00 EST
  });

  it('skips days the dealership is closed and its holidays', () => {
    const la: CallWindowPolicy = {
      timezone: 'America/Los_Angeles', callWindow: { start: '09:00', end: '19:00' },
      businessHours: { mon: [{ open: '07:30', close: '18:00' }], fri: [{ open: '07:30', close: '18:00' }], sat: [{ open: '08:00', close: '14:00' }], sun: [] },
      holidays: ['2026-12-25'],
    };
    // Sat 19 Dec 20:00 PST → Sunday closed → Mon 21 Dec 09:00 PST.
    assert.equal(next('2026-12-20T04:00:00.000Z', la), '2026-12-21T17:00:00.000Z');
    // Thu 24 Dec is closed (no thursday hours), Fri 25 is a holiday → Sat 26 Dec 09:00 PST.
    assert.equal(next('2026-12-24T18:00:00.000Z', la), '2026-12-26T17:00:00.000Z');
  });

  it('never rings outside 08:00–21:00 whatever the tenant window says', () => {
    const wide: CallWindowPolicy = { timezone: 'America/New_York', callWindow: { start: '06:00', end: '23:00' } };
    assert.deepEqual(effectiveWindow(wide.callWindow), { start: '08:00', end: '21:00' });
    assert.equal(next('2027-01-05T12:00:00.000Z', wide), '2027-01-05T13:00:00.000Z'); // 07:00 → 08:00 EST
    assert.equal(next('2027-01-06T02:30:00.000Z', wide), '2027-01-06T13:00:00.000Z'); // 21:30 → next day 08:00
    assert.equal(next('2027-01-06T01:59:00.000Z', wide), '2027-01-06T01:59:00.000Z'); // 20:59 is still allowed
    // A window that cannot meet the legal hours allows nothing (the caller records a skip, never rings at 22:00).
    assert.equal(next('2027-01-05T15:00:00.000Z', { timezone: 'America/New_York', callWindow: { start: '21:00', end: '23:00' } }), null);
  });

  it('applies 08:00–21:00 in the callee\'s zone when it is known', () => {
    // 09:00 EST is 06:00 in Los Angeles: the callee's 08:00 (11:00 EST = 16:00Z) is the first allowed time.
    assert.equal(next('2027-01-05T14:00:00.000Z', NY, 'America/Los_Angeles'), '2027-01-05T16:00:00.000Z');
    // 19:00 PST is 22:00 EST for a New York callee of a Los Angeles dealership: next day 08:00 EST = 13:00Z,
    // which is 05:00 PST, so the dealership window pushes it on to 09:00 PST = 17:00Z.
    const la: CallWindowPolicy = { timezone: 'America/Los_Angeles', callWindow: { start: '09:00', end: '20:00' } };
    assert.equal(next('2027-01-06T03:00:00.000Z', la, 'America/New_York'), '2027-01-06T17:00:00.000Z');
  });
});
