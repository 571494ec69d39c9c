import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isServiceLaneError } from '../../core/errors.js';
import { reminderPolicy } from '../../core/outbound/reminder-schedule.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;

describe('reminders config block (dealership schema + policy defaults)', () => {
  it('fills retry and maxConcurrentCalls defaults, and sorts and de-duplicates hoursBefore', () => {
    const c = parseDealershipConfig({ ...demo, reminders: { enabled: true, hoursBefore: [24, 48, 24], retry: {} } });
    assert.deepEqual(c.reminders?.retry, { maxAttempts: 3, intervalMin: 120 });
    assert.equal(c.reminders?.maxConcurrentCalls, 2);
    const p = reminderPolicy(c);
    assert.deepEqual(p.hoursBefore, [48, 24]);
    assert.deepEqual(p.callWindow, { start: '09:00', end: '19:00' });
    assert.equal(reminderPolicy({}).enabled, false, 'no reminders block: nothing is scheduled');
  });

  it('refuses an out-of-range retry policy and an unknown field, naming the path', () => {
    for (const [reminders, path] of [
      [{ retry: { maxAttempts: 9 } }, '/reminders/retry/maxAttempts'],
      [{ maxConcurrentCalls: 0 }, '/reminders/maxConcurrentCalls'],
      [{ callWindow: { start: '9am', end: '19:00' } }, '/reminders/callWindow/start'],
      [{ ringAt: '02:00' }, '/reminders'],
    ] as const) {
      assert.throws(() => parseDealershipConfig({ ...demo, reminders }), (e: unknown) => isServiceLaneError(e) && e.code === 'TEN_ERR_CONFIG_INVALID'
        && JSON.stringify(e.details).includes(path));
    }
  });
});
