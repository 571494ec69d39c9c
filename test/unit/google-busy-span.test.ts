import assert from 'node:assert/strict';
import { busySpan } from '../../core/integrations/google/sync.js';

describe('which Google events block a slot (busySpan)', () => {
  const timed = { start: { dateTime: '2027-03-03T09:00:00-08:00' }, end: { dateTime: '2027-03-03T10:30:00-08:00' } };

  it('a confirmed timed event blocks exactly its span', () => {
    assert.deepEqual(busySpan({ id: 'a', status: 'confirmed', ...timed }, 'UTC'), { startMs: Date.parse('2027-03-03T17:00:00Z'), endMs: Date.parse('2027-03-03T18:30:00Z') });
  });

  it('an all-day event blocks the whole day in the calendar zone, not in UTC', () => {
    const span = busySpan({ id: 'b', start: { date: '2027-03-03' }, end: { date: '2027-03-04' } }, 'America/Los_Angeles')!;
    assert.equal(new Date(span.startMs).toISOString(), '2027-03-03T08:00:00.000Z');
    assert.equal(new Date(span.endMs).toISOString(), '2027-03-04T08:00:00.000Z');
  });

  it('does not block for cancelled, free (transparent), declined-by-owner, our own mirrored bookings, or broken times', () => {
    assert.equal(busySpan({ id: 'c', status: 'cancelled', ...timed }, 'UTC'), null);
    assert.equal(busySpan({ id: 'd', transparency: 'transparent', ...timed }, 'UTC'), null);
    assert.equal(busySpan({ id: 'e', attendees: [{ email: 'o@x.test', self: true, responseStatus: 'declined' }], ...timed }, 'UTC'), null);
    assert.equal(busySpan({ id: 'f', extendedProperties: { private: { servicelane: '1' } }, ...timed }, 'UTC'), null);
    assert.equal(busySpan({ id: 'g', start: timed.end, end: timed.start }, 'UTC'), null);
    assert.equal(busySpan({ id: 'h', start: {}, end: timed.end }, 'UTC'), null);
  });
});
