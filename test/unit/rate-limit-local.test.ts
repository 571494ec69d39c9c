import assert from 'node:assert/strict';
import { LocalWindowCounter } from '../../core/admin-api/rate-limit.js';

describe('LocalWindowCounter (the per-process admin limiter used while the state store is down)', () => {
  it('counts per key within a window and starts again at 1 in the next window', () => {
    const c = new LocalWindowCounter();
    assert.deepEqual([c.hit('a', 7), c.hit('a', 7), c.hit('b', 7), c.hit('a', 7)], [1, 2, 1, 3]);
    assert.equal(c.hit('a', 8), 1);
  });

  it('keeps at most 50,000 keys a window: a flood of new addresses shares one counter instead of growing memory', () => {
    const c = new LocalWindowCounter();
    for (let i = 0; i < 50_000; i++) c.hit(`k${i}`, 1);
    assert.equal(c.hit('k0', 1), 2, 'known keys keep their own count');
    const overflow = Array.from({ length: 1000 }, (_, i) => c.hit(`new${i}`, 1));
    assert.deepEqual([overflow[0], overflow.at(-1)], [1, 1000], 'new keys beyond the cap count together');
    assert.equal((c as unknown as { counts: Map<string, number> }).counts.size, 50_001);
  });
});
