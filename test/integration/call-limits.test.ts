// The account's call rate (core/outbound/call-limits.ts) above 10 CPS: turns booked on the store's schedule, shared
// by every process. Two OutboundLimits on two connections stand for two worker processes.
import assert from 'node:assert/strict';
import { silentLogger } from '../../core/observability/logger.js';
import { OutboundLimits } from '../../core/outbound/call-limits.js';
import { RedisStateStore } from '../../core/state/redis-store.js';
import { TEST_REDIS_URL, uniquePrefix } from '../helpers/db.js';

describe('outbound call rate above 10 CPS (integration, Redis)', () => {
  const prefix = `sl:${uniquePrefix()}`;
  const stores = [0, 1].map(() => new RedisStateStore({ url: TEST_REDIS_URL, prefix, logger: silentLogger }));
  after(async () => { for (const s of stores) await s.close(); });

  it('two processes at 50 CPS: 40 creations, each in its own turn, never closer together than the schedule allows', async () => {
    const limits = stores.map((state) => new OutboundLimits({ state }));
    const starts: number[] = [];
    // Every turn is booked after this instant, so the k-th creation can't start before t0 + k × 20 ms.
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => limits[i % 2]!.withCallTurn({ account: 'AC-test', cps: 50 }, async () => {
      starts.push(performance.now());
      return i;
    })));
    assert.deepEqual(results.map((r) => r.result).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i), 'every creation ran once');
    starts.sort((a, b) => a - b);
    // The k-th creation cannot start before its turn, k × 20 ms after the first (5 ms for timers that fire early and
    // the store's clock against ours); a late one is load, not a fault. Per-process schedules would let the two
    // processes create every 10 ms and fail this.
    starts.forEach((t, k) => assert.ok(t - t0 >= k * 20 - 5, `creation ${k} at +${(t - t0).toFixed(1)} ms`));
    const waited = results.map((r) => r.waitedMs);
    assert.ok(Math.max(...waited) >= 39 * 20 - 100, `the last caller waited for its turn: ${Math.max(...waited)} ms`);
  });

  it('an abort while waiting for the turn creates nothing', async () => {
    const limits = new OutboundLimits({ state: stores[0]! });
    // Book the next few turns so the aborted caller has to wait.
    await Promise.all(Array.from({ length: 5 }, () => limits.withCallTurn({ account: 'AC-abort', cps: 20 }, async () => 0)));
    const ac = new AbortController();
    let created = 0;
    const p = limits.withCallTurn({ account: 'AC-abort', cps: 20, signal: ac.signal }, async () => { created++; return 1; });
    ac.abort();
    await assert.rejects(p);
    assert.equal(created, 0);
  });
});
