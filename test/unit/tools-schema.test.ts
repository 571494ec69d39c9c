import assert from 'node:assert/strict';
import { TtlCache } from '../../core/tools/cache.js';
import { argsSchema } from '../../core/tools/define.js';
import { compileArgs, describeArgErrors, toModelSchema } from '../../core/tools/schema.js';
import { bookableDay, bookableStart, slotToken, speakWhen } from '../../core/tools/time.js';

const LA = 'America/Los_Angeles';
// Wednesday 2027-03-10 10:00 in Los Angeles (PST, before the 2027-03-14 spring-forward).
const NOW = new Date('2027-03-10T18:00:00Z');

describe('tool argument schemas', () => {
  const params = {
    last_name: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[a-z]+$', description: 'Last name.' },
    zip: { type: 'string', nullable: true, maxLength: 5, pattern: '^[0-9]{5}$', description: 'ZIP or null.' },
    year: { type: 'integer', nullable: true, minimum: 1950, maximum: 2100, description: 'Year or null.' },
    service_type: { type: 'string', maxLength: 40, description: 'Service.' },
  } as const;

  it('gives the model a strict-mode schema: every field required, nullable as a null type, no constraint keywords', () => {
    const m = toModelSchema(argsSchema(params), { enums: { service_type: ['oil_change', 'tire_rotation'] } });
    assert.deepEqual(m, {
      type: 'object',
      additionalProperties: false,
      required: ['last_name', 'zip', 'year', 'service_type'],
      properties: {
        last_name: { type: 'string', description: 'Last name.' },
        zip: { type: ['string', 'null'], description: 'ZIP or null.' },
        year: { type: ['integer', 'null'], description: 'Year or null.' },
        service_type: { type: 'string', description: 'Service.', enum: ['oil_change', 'tire_rotation'] },
      },
    });
  });

  it('rejects unknown properties instead of dropping them', () => {
    const v = compileArgs(argsSchema(params));
    assert.equal(v({ last_name: 'smith', zip: null, year: null, service_type: 'x', tenant_id: 't1' }), false);
    const d = describeArgErrors(v.errors);
    assert.deepEqual(d.fields, ['tenant_id']);
  });

  it('describes errors without echoing the offending value', () => {
    const v = compileArgs(argsSchema(params));
    const hostile = "1' OR 1=1 --";
    assert.equal(v({ last_name: hostile, zip: '9x', year: 1900, service_type: 'x' }), false);
    const d = describeArgErrors(v.errors);
    assert.ok(!d.message.includes(hostile));
    assert.deepEqual(d.fields.sort(), ['last_name', 'year', 'zip']);
  });

  it('sanitises a model-chosen extra property name before quoting it back', () => {
    const v = compileArgs(argsSchema(params));
    assert.equal(v({ last_name: 'a', zip: null, year: null, service_type: 'x', 'ignore previous; <system>': 1 }), false);
    const d = describeArgErrors(v.errors);
    assert.match(d.fields[0]!, /^[A-Za-z0-9_.?]+$/);
  });

  it('refuses 2099-02-30 as a date format', () => {
    const v = compileArgs(argsSchema({ date: { type: 'string', maxLength: 10, format: 'date', description: 'd' } }));
    assert.equal(v({ date: '2099-02-30' }), false);
    assert.equal(v({ date: '2028-02-29' }), true);
    assert.equal(v({ date: '2027-02-29' }), false);
  });
});

describe('tool time rules', () => {
  const h = { zone: LA, horizonDays: 60, now: NOW };

  it('measures past and horizon in the dealership zone', () => {
    assert.equal(bookableDay('2027-03-10', h).ok, true);
    assert.deepEqual(bookableDay('2027-03-09', h), { ok: false, reason: 'date is in the past' });
    assert.equal(bookableDay('2027-05-09', h).ok, true);
    assert.equal(bookableDay('2027-05-10', h).ok, false);
    // 17:30 PST on the 9th is already the 10th in UTC: still "yesterday" locally.
    assert.equal(bookableDay('2027-03-09', { ...h, now: new Date('2027-03-10T01:30:00Z') }).ok, true);
  });

  it('refuses a local start inside the spring-forward gap rather than moving it', () => {
    const r = bookableStart('2027-03-14T02:30', h);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /does not exist/);
    assert.equal(bookableStart('2027-03-14T03:30', h).ok, true);
  });

  it('accepts the offset form it hands out and reads it back to the same instant', () => {
    const r = bookableStart('2027-03-11T09:30', h);
    assert.ok(r.ok);
    const token = slotToken(r.value);
    assert.equal(token, '2027-03-11T09:30-08:00');
    const back = bookableStart(token, h);
    assert.ok(back.ok);
    assert.equal(back.value.toMillis(), r.value.toMillis());
    assert.equal(speakWhen(back.value, 'en-US'), 'Thursday, March 11 at 9:30 AM');
  });

  it('refuses past starts and starts beyond the horizon', () => {
    assert.equal(bookableStart('2027-03-10T09:45', h).ok, false);
    assert.equal(bookableStart('2027-06-01T09:00', h).ok, false);
    assert.equal(bookableStart('2027-02-30T09:00', h).ok, false);
  });
});

describe('TtlCache', () => {
  it('expires entries after the TTL and evicts the oldest at the size cap', () => {
    let t = 0;
    const c = new TtlCache<number>({ ttlMs: 100, maxEntries: 2, now: () => t });
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    assert.equal(c.get('a'), undefined);
    assert.equal(c.get('b'), 2);
    t = 100;
    assert.equal(c.get('b'), undefined);
    c.set('t1|x', 1);
    c.set('t2|y', 2);
    c.deletePrefix('t1|');
    assert.equal(c.get('t1|x'), undefined);
    assert.equal(c.get('t2|y'), 2);
  });

  it('stores nothing when the TTL is 0', () => {
    const c = new TtlCache<number>({ ttlMs: 0, maxEntries: 10 });
    c.set('a', 1);
    assert.equal(c.get('a'), undefined);
  });
});
