import assert from 'node:assert/strict';
import { PluginError, type CallOptions } from '../../core/sdk/index.js';
import { ServiceLaneError } from '../../core/errors.js';
import { metrics } from '../../core/observability/metrics.js';
import {
  backoffDelay, breakerOf, createBreaker, fallbackInstance, toCoreError, withBreaker, withFallback, withMetrics, withRetry,
  withTimeout, wrapInstance,
} from '../../core/resilience/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rejectsWith(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

async function breakerGauge(label: string): Promise<number> {
  const { values } = await metrics.breakerState.get();
  return values.find((v) => v.labels.plugin === label)?.value ?? 0;
}

async function counterValue(c: { get(): Promise<{ values: { value: number; labels: Record<string, string | number> }[] }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await c.get();
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((a, v) => a + v.value, 0);
}

describe('withTimeout', () => {
  it('rejects with a retryable timeout PluginError and aborts the call\'s signal', async () => {
    let seen: AbortSignal | undefined;
    const fn = withTimeout((o: CallOptions) => { seen = o.signal; return new Promise<never>(() => undefined); }, { ms: 20, name: 'crm-x.findCustomers' });
    const e = await rejectsWith(fn({}));
    assert.ok(e instanceof PluginError);
    assert.equal(e.category, 'timeout');
    assert.equal(e.retryable, true);
    assert.equal(seen?.aborted, true);
  });

  it('passes the caller\'s abort to the call and rejects with the caller\'s reason', async () => {
    const caller = new AbortController();
    let seen: AbortSignal | undefined;
    const fn = withTimeout((o: CallOptions) => { seen = o.signal; return new Promise<never>(() => undefined); }, { ms: 10_000, name: 't' });
    const p = fn({ signal: caller.signal });
    const reason = new Error('barge-in');
    caller.abort(reason);
    assert.equal(await rejectsWith(p), reason);
    assert.equal(seen?.aborted, true);
  });

  it('does not call the function when the caller already aborted', async () => {
    let calls = 0;
    const fn = withTimeout(async (_o: CallOptions) => { calls++; return 1; }, { ms: 100, name: 't' });
    await rejectsWith(fn({ signal: AbortSignal.abort() }));
    assert.equal(calls, 0);
  });

  it('returns the result of a call that finishes in time', async () => {
    const fn = withTimeout(async (o: { signal?: AbortSignal; x: number }) => o.x * 2, { ms: 1000, name: 't' });
    assert.equal(await fn({ x: 21 }), 42);
  });
});

describe('backoffDelay', () => {
  it('draws full jitter below a cap that doubles per retry and stops at maxMs', () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    assert.equal(backoffDelay(0, policy, () => 0), 0);
    assert.equal(backoffDelay(0, policy, () => 0.999), 99);
    assert.equal(backoffDelay(1, policy, () => 0.999), 199);
    assert.equal(backoffDelay(2, policy, () => 0.5), 200);
    assert.equal(backoffDelay(10, policy, () => 0.999), 999);
  });

  it('spreads delays across the window with the default random source', () => {
    const draws = Array.from({ length: 200 }, () => backoffDelay(3, { baseMs: 100, maxMs: 10_000 }));
    assert.ok(draws.every((d) => d >= 0 && d < 800));
    assert.ok(new Set(draws).size > 20, 'delays are jittered, not fixed');
  });
});

describe('withRetry', () => {
  it('retries retryable PluginErrors with jittered delays until the call succeeds', async () => {
    let calls = 0;
    const delays: number[] = [];
    const randoms = [0.5, 0.25];
    const fn = withRetry(async (_o: CallOptions) => {
      calls++;
      if (calls < 3) throw new PluginError('upstream', 'vendor 503');
      return 'ok';
    }, { attempts: 3, baseMs: 8, maxMs: 100, random: () => randoms.shift() ?? 0, onRetry: (_e, i) => delays.push(i.delayMs) });
    assert.equal(await fn({}), 'ok');
    assert.equal(calls, 3);
    assert.deepEqual(delays, [4, 4]);
  });

  it('does not retry a permanent PluginError or a core error', async () => {
    for (const err of [new PluginError('not_found', 'gone'), new PluginError('auth', 'bad key'), new ServiceLaneError('PLG_ERR_BREAKER_OPEN', 'open')]) {
      let calls = 0;
      const fn = withRetry(async (_o: CallOptions) => { calls++; throw err; }, { attempts: 5, baseMs: 1, maxMs: 1 });
      assert.equal(await rejectsWith(fn({})), err);
      assert.equal(calls, 1);
    }
  });

  it('retries a permanent category the plugin marked retryable', async () => {
    let calls = 0;
    const fn = withRetry(async (_o: CallOptions) => { calls++; throw new PluginError('conflict', 'version race', { retryable: true }); }, { attempts: 2, baseMs: 1, maxMs: 1 });
    await rejectsWith(fn({}));
    assert.equal(calls, 2);
  });

  it('gives up after the configured attempts and throws the last error', async () => {
    let calls = 0;
    const fn = withRetry(async (_o: CallOptions) => { calls++; throw new PluginError('rate_limit', `429 #${calls}`); }, { attempts: 4, baseMs: 1, maxMs: 2 });
    const e = await rejectsWith(fn({}));
    assert.equal(calls, 4);
    assert.equal((e as Error).message, '429 #4');
  });

  it('stops a backoff sleep when the caller aborts and makes no further attempt', async () => {
    let calls = 0;
    const caller = new AbortController();
    const fn = withRetry(async (_o: CallOptions) => { calls++; throw new PluginError('upstream', '500'); }, { attempts: 5, baseMs: 10_000, maxMs: 10_000, random: () => 0.99 });
    const p = fn({ signal: caller.signal });
    await sleep(10);
    const reason = new Error('caller hung up');
    caller.abort(reason);
    assert.equal(await rejectsWith(p), reason);
    assert.equal(calls, 1);
  });
});

describe('withBreaker', () => {
  const opts = (name: string) => ({ name, errorThresholdPercentage: 50, resetTimeoutMs: 60_000, volumeThreshold: 2 });

  it('opens after provider failures and then rejects with PLG_ERR_BREAKER_OPEN without calling', async () => {
    let calls = 0;
    const fn = withBreaker(async (_o: CallOptions) => { calls++; throw new PluginError('upstream', '503'); }, opts('test-open'));
    await rejectsWith(fn({}));
    await rejectsWith(fn({}));
    assert.equal(fn.breaker.state(), 'open');
    assert.equal(await breakerGauge('test-open'), 1);
    const e = await rejectsWith(fn({}));
    assert.ok(e instanceof ServiceLaneError);
    assert.equal(e.code, 'PLG_ERR_BREAKER_OPEN');
    assert.equal(calls, 2);
    fn.breaker.shutdown();
    assert.equal(await breakerGauge('test-open'), 0);
  });

  it('does not count not_found, invalid requests, auth failures or caller aborts', async () => {
    const categories = ['not_found', 'invalid_request', 'auth', 'forbidden'] as const;
    let i = 0;
    const fn = withBreaker(async (_o: CallOptions) => { throw new PluginError(categories[i++ % categories.length]!, 'x'); }, opts('test-filtered'));
    for (let n = 0; n < 8; n++) await rejectsWith(fn({}));
    const aborted = withBreaker(async (_o: CallOptions) => { throw new PluginError('timeout', 'aborted'); }, fn.breaker);
    for (let n = 0; n < 4; n++) await rejectsWith(aborted({ signal: AbortSignal.abort() }));
    assert.equal(fn.breaker.state(), 'closed');
    assert.equal(fn.breaker.stats().failures, 0);
    fn.breaker.shutdown();
  });

  it('lets one trial call through after resetTimeoutMs and closes on success', async () => {
    let fail = true;
    const fn = withBreaker(async (_o: CallOptions) => { if (fail) throw new PluginError('connectivity', 'ECONNREFUSED'); return 'up'; }, { ...opts('test-reset'), resetTimeoutMs: 30 });
    await rejectsWith(fn({}));
    await rejectsWith(fn({}));
    assert.equal(fn.breaker.state(), 'open');
    await sleep(60);
    assert.equal(fn.breaker.state(), 'half_open');
    fail = false;
    assert.equal(await fn({}), 'up');
    assert.equal(fn.breaker.state(), 'closed');
    fn.breaker.shutdown();
  });

  it('applies timeoutMs by aborting the call, and counts the timeout', async () => {
    const fn = withBreaker((o: CallOptions) => new Promise<never>((_r, reject) => o.signal?.addEventListener('abort', () => reject(o.signal!.reason))), { ...opts('test-timeout'), volumeThreshold: 1, timeoutMs: 10 });
    const e = await rejectsWith(fn({}));
    assert.ok(e instanceof PluginError && e.category === 'timeout');
    assert.equal(fn.breaker.state(), 'open');
    fn.breaker.shutdown();
  });

  it('shares one breaker across functions when given a Breaker', async () => {
    const b = createBreaker({ ...opts('test-shared'), volumeThreshold: 1 });
    const a = withBreaker(async (_o: CallOptions) => { throw new PluginError('upstream', 'x'); }, b);
    let calls = 0;
    const other = withBreaker(async (_o: CallOptions) => { calls++; return 1; }, b);
    await rejectsWith(a({}));
    const e = await rejectsWith(other({}));
    assert.equal((e as ServiceLaneError).code, 'PLG_ERR_BREAKER_OPEN');
    assert.equal(calls, 0);
    b.shutdown();
  });
});

describe('withFallback', () => {
  it('uses the secondary when the primary has an outage or an open breaker', async () => {
    for (const err of [new PluginError('upstream', '500'), new ServiceLaneError('PLG_ERR_BREAKER_OPEN', 'open'), new PluginError('auth', '401')]) {
      const fn = withFallback([async (_o: CallOptions) => { throw err; }, async (_o: CallOptions) => 'secondary']);
      assert.equal(await fn({}), 'secondary');
    }
  });

  it('does not fall back on a request-shaped error or a caller abort', async () => {
    let secondaryCalls = 0;
    const secondary = async (_o: CallOptions) => { secondaryCalls++; return 'secondary'; };
    const notFound = new PluginError('not_found', 'no such event');
    assert.equal(await rejectsWith(withFallback([async (_o: CallOptions) => { throw notFound; }, secondary])({})), notFound);
    await rejectsWith(withFallback([async (_o: CallOptions) => { throw new PluginError('timeout', 'aborted'); }, secondary])({ signal: AbortSignal.abort() }));
    assert.equal(secondaryCalls, 0);
  });

  it('throws the last error when every candidate fails', async () => {
    const last = new PluginError('connectivity', 'down too');
    const fn = withFallback([async (_o: CallOptions) => { throw new PluginError('upstream', 'down'); }, async (_o: CallOptions) => { throw last; }]);
    assert.equal(await rejectsWith(fn({})), last);
  });
});

describe('withMetrics', () => {
  it('records latency per outcome and errors by category, but not caller cancellations as errors', async () => {
    const plugin = `metrics-${Date.now()}`;
    const ok = withMetrics(async (_o: CallOptions) => 1, { plugin, method: 'm' });
    const bad = withMetrics(async (_o: CallOptions) => { throw new PluginError('rate_limit', '429'); }, { plugin, method: 'm' });
    const open = withMetrics(async (_o: CallOptions) => { throw new ServiceLaneError('PLG_ERR_BREAKER_OPEN', 'open'); }, { plugin, method: 'm' });
    await ok({});
    await rejectsWith(bad({}));
    await rejectsWith(bad({ signal: AbortSignal.abort() }));
    await rejectsWith(open({}));
    assert.equal(await counterValue(metrics.pluginErrors, { plugin, category: 'rate_limit' }), 1);
    assert.equal(await counterValue(metrics.pluginErrors, { plugin, category: 'breaker_open' }), 1);
    const hist = await metrics.pluginCalls.get();
    const count = (outcome: string) => hist.values.filter((v) => v.metricName === 'sl_plugin_call_seconds_count' && v.labels.plugin === plugin && v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
    assert.equal(count('ok'), 1);
    assert.equal(count('error'), 2);
    assert.equal(count('cancelled'), 1);
  });
});

describe('wrapInstance', () => {
  class VendorCrm {
    calls: Record<string, number> = {};
    closed = false;
    constructor(private readonly fail: () => unknown) {}
    private hit(m: string) { this.calls[m] = (this.calls[m] ?? 0) + 1; }
    async findCustomers(_o: CallOptions & { phone?: string }) { this.hit('findCustomers'); const f = this.fail(); if (f) throw f; return [{ id: 'c1' }]; }
    async createCustomer(_o: CallOptions & { firstName: string }) { this.hit('createCustomer'); const f = this.fail(); if (f) throw f; return { id: 'c2' }; }
    async close() { this.closed = true; }
  }
  const wrapOpts = { pluginId: 'crm-vendor', kind: 'crm' as const, timeoutMs: 1000, retry: { attempts: 3, baseMs: 1, maxMs: 2 }, breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 60_000, volumeThreshold: 100 } };

  it('wraps prototype methods, keeps `this`, and returns their results', async () => {
    const raw = new VendorCrm(() => null);
    const w = wrapInstance(raw, wrapOpts);
    assert.deepEqual(await w.findCustomers({ phone: '+14085550100' }), [{ id: 'c1' }]);
    assert.equal(raw.calls.findCustomers, 1);
    await w.close();
    assert.equal(raw.closed, true);
    assert.equal(breakerOf(w)?.state(), 'shutdown');
  });

  it('classifies raw vendor errors as PluginErrors', async () => {
    const w = wrapInstance(new VendorCrm(() => Object.assign(new Error('Request failed'), { status: 403 })), { ...wrapOpts, retry: false });
    const e = await rejectsWith(w.findCustomers({}));
    assert.ok(e instanceof PluginError);
    assert.equal(e.category, 'forbidden');
    await w.close();
  });

  it('retries only retry-safe methods', async () => {
    const raw = new VendorCrm(() => new PluginError('upstream', '502'));
    const w = wrapInstance(raw, wrapOpts);
    await rejectsWith(w.findCustomers({}));
    await rejectsWith(w.createCustomer({ firstName: 'A' }));
    assert.equal(raw.calls.findCustomers, 3);
    assert.equal(raw.calls.createCustomer, 1, 'a write that may have happened is not repeated');
    await w.close();
  });

  it('shares one breaker across the instance\'s methods', async () => {
    const raw = new VendorCrm(() => new PluginError('upstream', '502'));
    const w = wrapInstance(raw, { ...wrapOpts, retry: false, breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 60_000, volumeThreshold: 2 } });
    await rejectsWith(w.findCustomers({}));
    await rejectsWith(w.findCustomers({}));
    const e = await rejectsWith(w.createCustomer({ firstName: 'A' }));
    assert.equal((e as ServiceLaneError).code, 'PLG_ERR_BREAKER_OPEN');
    assert.equal(raw.calls.createCustomer, undefined);
    await w.close();
  });

  it('composes a fallback instance that switches per method on an outage', async () => {
    const primary = wrapInstance(new VendorCrm(() => new PluginError('connectivity', 'down')), { ...wrapOpts, retry: false });
    const secondaryRaw = new VendorCrm(() => null);
    const secondary = wrapInstance(secondaryRaw, { ...wrapOpts, pluginId: 'crm-local' });
    const both = fallbackInstance(primary, secondary);
    assert.deepEqual(await both.findCustomers({}), [{ id: 'c1' }]);
    assert.equal(secondaryRaw.calls.findCustomers, 1);
    assert.equal(breakerOf(both), breakerOf(primary));
    await both.close();
    assert.equal(secondaryRaw.closed, true);
  });
});

describe('toCoreError', () => {
  it('maps timeouts to PLG_ERR_TIMEOUT and other plugin failures to PLG_ERR_CALL_FAILED with the category', () => {
    const t = toCoreError(new PluginError('timeout', 'slow'), { pluginId: 'crm-x', method: 'findCustomers' });
    assert.equal(t.code, 'PLG_ERR_TIMEOUT');
    const f = toCoreError(new PluginError('rate_limit', 'Jane Doe not allowed', { status: 429 }), { pluginId: 'crm-x' });
    assert.equal(f.code, 'PLG_ERR_CALL_FAILED');
    assert.deepEqual(f.details, { plugin: 'crm-x', category: 'rate_limit', retryable: true, status: 429 });
    assert.ok(!f.message.includes('Jane'), 'vendor messages may hold PII and are not copied');
    const same = new ServiceLaneError('PLG_ERR_BREAKER_OPEN', 'open');
    assert.equal(toCoreError(same, { pluginId: 'x' }), same);
  });
});
