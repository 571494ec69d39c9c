import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { loadConfig, type AppConfig } from '../../core/config.js';
import { Jobs, type JobInfo } from '../../core/jobs/jobs.js';
import { silentLogger } from '../../core/observability/logger.js';
import { isServiceLaneError } from '../../core/errors.js';
import { PluginError } from '../../core/sdk/errors.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from '../helpers/db.js';

function configFor(o: { redisUrl?: string; databaseUrl: string; role?: string }): AppConfig {
  return loadConfig({
    ROLE: o.role ?? 'all', PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl,
    ADMIN_JWT_SECRET: 'test-secret-test-secret-test-secret-0123', CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
  });
}

const id = (label: string): string => `${label}-${crypto.randomBytes(4).toString('hex')}`;

async function assertEnqueueError(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => isServiceLaneError(e) && e.code === 'JOB_ERR_ENQUEUE');
}

for (const backend of ['redis', 'postgres'] as const) {
  describe(`Jobs on the ${backend} backend`, function () {
    this.timeout(30_000);
    let db: TestDatabase;
    let jobs: Jobs;
    let cfg: AppConfig;
    const extra: Jobs[] = [];

    const make = async (o: { role?: string } = {}): Promise<Jobs> => {
      const j = new Jobs({ cfg: configFor({ databaseUrl: db.url, redisUrl: backend === 'redis' ? TEST_REDIS_URL : undefined, role: o.role }), databaseUrl: db.url, logger: silentLogger, prefix: uniquePrefix() });
      extra.push(j);
      return j;
    };

    // Redis queues are isolated by key prefix; the Postgres backend has one `bullmq` schema per database,
    // so each Postgres test gets its own database.
    beforeEach(async () => {
      db = await createTestDatabase('jobs');
      cfg = configFor({ databaseUrl: db.url, redisUrl: backend === 'redis' ? TEST_REDIS_URL : undefined });
      jobs = new Jobs({ cfg, databaseUrl: db.url, logger: silentLogger, prefix: uniquePrefix() });
      await jobs.start();
    });
    afterEach(async () => {
      await jobs.close({ timeoutMs: 2000 });
      for (const j of extra.splice(0)) await j.close({ timeoutMs: 2000 });
      await db.drop();
    });

    it('reports which backend it runs on', () => {
      assert.equal(jobs.backend, backend);
    });

    it('runs a registered handler with the job data and keeps its result', async () => {
      const seen: unknown[] = [];
      jobs.register<{ n: number }>('email', async (data) => { seen.push(data); return { doubled: data.n * 2 }; });
      const jobId = await jobs.enqueue('email', { n: 21 }, { jobId: id('mail') });
      const done = await jobs.waitForJob('email', jobId);
      assert.equal(done.state, 'completed');
      assert.deepEqual(done.returnValue, { doubled: 42 });
      assert.deepEqual(seen, [{ n: 21 }]);
    });

    it('runs a job with the same jobId once, whether re-added while pending or after completion', async () => {
      let runs = 0;
      const jobId = id('dedupe');
      // Added twice before any worker exists, then a third time after it completed.
      await jobs.enqueue('reminders', { v: 1 }, { jobId });
      await jobs.enqueue('reminders', { v: 2 }, { jobId });
      jobs.register<{ v: number }>('reminders', async (d) => { runs++; return d.v; });
      const first = await jobs.waitForJob('reminders', jobId);
      assert.equal(first.returnValue, 1, 'the first data wins');
      await jobs.enqueue('reminders', { v: 3 }, { jobId });
      await jobs.waitIdle({ queues: ['reminders'] });
      assert.equal(runs, 1);
      const counts = await jobs.counts('reminders');
      assert.equal(counts.completed, 1);
    });

    it('retries a failing job with exponential backoff until it succeeds', async () => {
      const at: number[] = [];
      const infos: JobInfo[] = [];
      jobs.register('crm-log', async (_d, info) => {
        at.push(Date.now());
        infos.push(info);
        if (at.length < 3) throw new PluginError('upstream', 'vendor 503', { status: 503 });
        return 'ok';
      });
      const backoffMs = 150;
      const jobId = await jobs.enqueue('crm-log', {}, { jobId: id('retry'), attempts: 4, backoffMs });
      const done = await jobs.waitForJob('crm-log', jobId);
      assert.equal(done.state, 'completed');
      assert.deepEqual(infos.map((i) => i.attemptsMade), [0, 1, 2]);
      assert.ok(infos.every((i) => i.attempts === 4));
      // Jitter 0.2 keeps each wait within [0.8, 1] × base × 2^(n-1); lower bounds only, never an upper wall-clock bound.
      assert.ok(at[1]! - at[0]! >= backoffMs * 0.8 - 5, `first gap ${at[1]! - at[0]!}`);
      assert.ok(at[2]! - at[1]! >= backoffMs * 2 * 0.8 - 5, `second gap ${at[2]! - at[1]!}`);
    });

    it('stops after the configured attempts and records the last failure', async () => {
      let runs = 0;
      jobs.register('crm-log', async () => { runs++; throw new PluginError('connectivity', 'vendor unreachable'); });
      const jobId = await jobs.enqueue('crm-log', {}, { jobId: id('exhaust'), attempts: 3, backoffMs: 20 });
      const done = await jobs.waitForJob('crm-log', jobId);
      assert.equal(done.state, 'failed');
      assert.equal(done.attemptsMade, 3);
      assert.equal(runs, 3);
      assert.match(done.failedReason ?? '', /vendor unreachable/);
    });

    it('does not retry a non-retryable PluginError (UnrecoverableError)', async () => {
      let runs = 0;
      jobs.register('calendar-sync', async () => { runs++; throw new PluginError('auth', 'refresh token revoked'); });
      const jobId = await jobs.enqueue('calendar-sync', {}, { jobId: id('perm'), attempts: 5, backoffMs: 20 });
      const done = await jobs.waitForJob('calendar-sync', jobId);
      assert.equal(done.state, 'failed');
      assert.equal(runs, 1);
      assert.equal(done.attemptsMade, 1);
      assert.match(done.failedReason ?? '', /refresh token revoked/);
    });

    it('delays a job by delayMs', async () => {
      let ranAt = 0;
      jobs.register('reminders', async () => { ranAt = Date.now(); });
      const t0 = Date.now();
      const jobId = await jobs.enqueue('reminders', {}, { jobId: id('delay'), delayMs: 300 });
      assert.equal((await jobs.getJob('reminders', jobId))?.state, 'delayed');
      await jobs.waitForJob('reminders', jobId);
      assert.ok(ranAt - t0 >= 290, `ran after ${ranAt - t0} ms`);
    });

    it('refuses a job id with ":" or an integer id and adds nothing', async () => {
      await assertEnqueueError(jobs.enqueue('email', {}, { jobId: 'cal:tenant:1' }));
      await assertEnqueueError(jobs.enqueue('email', {}, { jobId: '12345' }));
      const c = await jobs.counts('email');
      assert.equal(Object.values(c).reduce((a, b) => a + b, 0), 0);
    });

    it('does not run workers in the api role: jobs wait for a worker process', async () => {
      const api = await make({ role: 'api' });
      await api.start();
      let runs = 0;
      api.register('email', async () => { runs++; });
      const jobId = await api.enqueue('email', {}, { jobId: id('api') });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(runs, 0);
      assert.equal((await api.getJob('email', jobId))?.state, 'waiting');
    });

    it('close() stops waiting for a job still running past its deadline', async () => {
      let release!: () => void;
      let released = false;
      const started = new Promise<void>((resolve) => {
        jobs.register('email', () => { resolve(); return new Promise<void>((r) => { release = () => { released = true; r(); }; }); });
      });
      await jobs.enqueue('email', {}, { jobId: id('slow') });
      await started;
      // A close that waits for the handler would hang until mocha's timeout; give it a bound well below that
      // and fail with a message that says what went wrong.
      const GUARD_MS = 10_000;
      let guard: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        jobs.close({ timeoutMs: 300 }).then(() => 'closed' as const),
        new Promise<'still waiting'>((r) => { guard = setTimeout(() => r('still waiting'), GUARD_MS); }),
      ]).finally(() => clearTimeout(guard));
      assert.equal(outcome, 'closed', `close({ timeoutMs: 300 }) was still waiting for the running job after ${GUARD_MS} ms`);
      assert.equal(released, false, 'close() returned while the job was still running, not after it finished');
      release();
      // The force-closed worker still finishes the released job on its own connections; let it settle so the
      // database drop in afterEach doesn't terminate a connection mid-query.
      await new Promise((r) => setTimeout(r, 1500));
    });
  });
}

describe('Jobs with an unreachable backend', function () {
  this.timeout(20_000);

  it('throws JOB_ERR_ENQUEUE when Redis is down', async () => {
    const db = await createTestDatabase('jobs');
    const cfg = configFor({ databaseUrl: db.url, redisUrl: 'redis://127.0.0.1:1' });
    const jobs = new Jobs({ cfg, databaseUrl: db.url, logger: silentLogger, prefix: uniquePrefix(), enqueueTimeoutMs: 1000 });
    try {
      await jobs.start();
      await assertEnqueueError(jobs.enqueue('email', { x: 1 }, { jobId: id('down') }));
    } finally {
      await jobs.close({ timeoutMs: 1000 });
      await db.drop();
    }
  });

  it('throws JOB_ERR_ENQUEUE when Postgres is down', async () => {
    const good = await createTestDatabase('jobs');
    const jobs0 = new Jobs({ cfg: configFor({ databaseUrl: good.url }), databaseUrl: good.url, logger: silentLogger });
    await jobs0.start(); // schema exists; then point a second instance at a dead port
    await jobs0.close();
    const dead = good.url.replace(/:\d+\//, ':1/');
    const jobs = new Jobs({ cfg: configFor({ databaseUrl: dead }), databaseUrl: dead, logger: silentLogger, enqueueTimeoutMs: 1000 });
    try {
      await assertEnqueueError(jobs.enqueue('email', { x: 1 }, { jobId: id('down') }));
    } finally {
      await jobs.close({ timeoutMs: 1000 });
      await good.drop();
    }
  });
});
