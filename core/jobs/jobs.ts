import {
  Queue, Worker, UnrecoverableError, withBackend, createPostgresBackend, runMigrations,
  type Job, type JobsOptions, type JobType,
} from 'bullmq';
import pg from 'pg';
import type { AppConfig } from '../config.js';
import { ServiceLaneError, isServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { isPluginError } from '../sdk/errors.js';

/** A few fixed queues; the tenant travels in the job data (one queue per tenant would not scale on either backend). */
export type QueueName = 'calendar-sync' | 'crm-log' | 'reminders' | 'email' | 'calendar-changes' | 'outbound-calls';
export const QUEUE_NAMES: readonly QueueName[] = ['calendar-sync', 'crm-log', 'reminders', 'email', 'calendar-changes', 'outbound-calls'];

/** What a handler learns about the job it runs. `attempts` is the configured maximum. */
export interface JobInfo { id: string; attemptsMade: number; attempts: number }
export type JobHandler<T> = (data: T, job: JobInfo) => Promise<unknown>;

export interface EnqueueOptions {
  /** Deterministic id (no ':'): a second enqueue with the same id is a no-op while the first is kept (7 days). */
  jobId?: string;
  delayMs?: number;
  attempts?: number;
  /** Base of the exponential backoff between attempts. */
  backoffMs?: number;
}

export type JobStateName = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed' | 'prioritized' | 'waiting-children' | 'unknown';

/** A job as tests and admin views see it, the same on both backends. */
export interface JobSnapshot {
  id: string;
  state: JobStateName;
  attemptsMade: number;
  data: unknown;
  returnValue?: unknown;
  failedReason?: string;
  /** Epoch ms at which the job finished (completed or failed for good). */
  finishedAt?: number;
}

export interface JobsInit {
  cfg: AppConfig;
  databaseUrl: string;
  logger: Logger;
  /** Extra key prefix (the platform's statePrefix), so parallel runs on one Redis never share queues. */
  prefix?: string;
  /** Defaults for enqueue when the caller gives none. */
  defaults?: { attempts?: number; backoffMs?: number };
  /** How long enqueue may wait for the backend before JOB_ERR_ENQUEUE. */
  enqueueTimeoutMs?: number;
  /** Deadline for close(); workers still busy after it are force-closed (their jobs become stalled and rerun). */
  closeTimeoutMs?: number;
}

const DAY_SEC = 24 * 3600;
// Kept completed jobs are what makes a deterministic jobId dedupe; removed ones would run again (bullmq#941).
const KEEP_COMPLETED = { age: 7 * DAY_SEC };
const KEEP_FAILED = { age: 30 * DAY_SEC };

/** The handful of queue operations we use, bound to one backend so both compose behind one type. */
interface QueueAdapter {
  add(data: unknown, opts: JobsOptions): Promise<string | undefined>;
  getJob(id: string): Promise<Job | undefined>;
  counts(types: JobType[]): Promise<Record<string, number>>;
  close(): Promise<void>;
}
interface WorkerAdapter {
  close(force: boolean): Promise<void>;
}
interface Backend {
  kind: 'redis' | 'postgres';
  queue(name: QueueName): QueueAdapter;
  worker(name: QueueName, fn: (job: Job) => Promise<unknown>, concurrency: number): WorkerAdapter;
  migrate(): Promise<void>;
}

/** ioredis options from a redis:// URL (BullMQ builds its own clients from options). */
function redisOptions(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  return {
    host: u.hostname, port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function redisBackend(o: { url: string; prefix: string; onError: (where: string, e: Error) => void }): Backend {
  const base = redisOptions(o.url);
  return {
    kind: 'redis',
    queue(name) {
      // Producers fail fast when Redis is gone (503 to the caller) instead of queueing commands in memory.
      const q = new Queue(name, { connection: { ...base, enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix: o.prefix });
      q.on('error', (e) => o.onError(`queue ${name}`, e));
      return {
        add: async (data, opts) => (await q.add(name, data, opts)).id,
        getJob: (id) => q.getJob(id),
        counts: (types) => q.getJobCounts(...types),
        close: () => q.close(),
      };
    },
    worker(name, fn, concurrency) {
      const w = new Worker(name, fn, { connection: { ...base, maxRetriesPerRequest: null }, prefix: o.prefix, concurrency });
      w.on('error', (e) => o.onError(`worker ${name}`, e));
      return { close: (force) => w.close(force) };
    },
    migrate: async () => {},
  };
}

function postgresBackend(o: { databaseUrl: string; onError: (where: string, e: Error) => void }): Backend {
  const P = withBackend(createPostgresBackend);
  // Each Queue/Worker owns a pool plus a LISTEN client; keep them small (embedded PG allows 100 connections).
  const connection = { connectionString: o.databaseUrl, schema: 'bullmq', max: 3 };
  return {
    kind: 'postgres',
    queue(name) {
      const q = new P.Queue(name, { connection });
      q.on('error', (e) => o.onError(`queue ${name}`, e));
      return {
        add: async (data, opts) => (await q.add(name, data, opts)).id,
        getJob: async (id) => (await q.getJob(id)) as Job | undefined,
        counts: (types) => q.getJobCounts(...types),
        close: () => q.close(),
      };
    },
    worker(name, fn, concurrency) {
      const w = new P.Worker(name, fn, { connection, concurrency });
      w.on('error', (e) => o.onError(`worker ${name}`, e));
      return { close: (force) => w.close(force) };
    },
    migrate: async () => {
      const client = new pg.Client({ connectionString: o.databaseUrl });
      client.on('error', (e) => o.onError('bullmq migrations', e));
      await client.connect();
      try { await runMigrations(client, 'bullmq'); } finally { await client.end(); }
    },
  };
}

function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => { t = setTimeout(() => reject(onTimeout()), ms); }),
  ]).finally(() => clearTimeout(t));
}

/** Errors that repeating cannot fix stop retrying at once (docs.bullmq.io/patterns/stop-retrying-jobs). */
export function isPermanentJobError(e: unknown): boolean {
  if (e instanceof UnrecoverableError) return true;
  if (isPluginError(e)) return !e.retryable;
  // Coded core errors below 500 are decisions about the input (not found, offboarded, stale), not outages.
  if (isServiceLaneError(e)) return e.status < 500;
  return false;
}

/**
 * Queues and workers over BullMQ: Redis when REDIS_URL is set, else BullMQ's Postgres backend in schema
 * `bullmq` (migrated by start()). Handlers are registered by the components that own each queue; workers run
 * only in the `worker` and `all` roles, so an `api` process only produces.
 */
export class Jobs {
  readonly backend: 'redis' | 'postgres';
  private readonly impl: Backend;
  private readonly queues = new Map<QueueName, QueueAdapter>();
  private readonly handlers = new Map<QueueName, { fn: JobHandler<unknown>; concurrency: number }>();
  private readonly workers = new Map<QueueName, WorkerAdapter>();
  private started = false;
  private closed = false;
  /** Samples queue depth into sl_queue_jobs (worker roles): the backlog alert and dashboard read it. */
  private depthTimer: NodeJS.Timeout | undefined;
  private readonly defaults: { attempts: number; backoffMs: number };

  constructor(private readonly o: JobsInit) {
    const onError = (where: string, e: Error): void => {
      metrics.jobs.inc({ queue: 'backend', outcome: 'error' });
      o.logger.warn({ err: e.message, where, backend: this.backend }, 'job backend error (the client reconnects on its own)');
    };
    this.impl = o.cfg.redisUrl
      ? redisBackend({ url: o.cfg.redisUrl, prefix: `sl:${o.prefix ?? ''}bull`, onError })
      : postgresBackend({ databaseUrl: o.databaseUrl, onError });
    this.backend = this.impl.kind;
    this.defaults = { attempts: o.defaults?.attempts ?? 5, backoffMs: o.defaults?.backoffMs ?? 30_000 };
  }

  /** Whether this process runs workers (roles `worker` and `all`). */
  get runsWorkers(): boolean { return this.o.cfg.role === 'worker' || this.o.cfg.role === 'all'; }

  private queue(name: QueueName): QueueAdapter {
    let q = this.queues.get(name);
    if (!q) { q = this.impl.queue(name); this.queues.set(name, q); }
    return q;
  }

  /** Registers the handler for a queue. Registering after start() starts its worker at once. */
  register<T>(queue: QueueName, handler: JobHandler<T>, o: { concurrency?: number } = {}): void {
    if (this.handlers.has(queue)) throw new Error(`a handler for queue ${queue} is already registered`);
    this.handlers.set(queue, { fn: handler as JobHandler<unknown>, concurrency: o.concurrency ?? 5 });
    if (this.started && this.runsWorkers) this.startWorker(queue);
  }

  /** Migrates the Postgres backend and starts workers for the registered queues (worker/all roles only). */
  async start(): Promise<void> {
    if (this.started) return;
    await this.impl.migrate();
    this.started = true;
    if (this.runsWorkers) for (const name of this.handlers.keys()) this.startWorker(name);
    if (this.runsWorkers) this.depthTimer = setInterval(() => void this.sampleDepth(), 15_000).unref();
  }

  private async sampleDepth(): Promise<void> {
    for (const name of this.handlers.keys()) {
      try {
        const c = await this.queue(name).counts(['waiting', 'active', 'delayed']);
        for (const state of ['waiting', 'active', 'delayed']) metrics.queueJobs.set({ queue: name, state }, c[state] ?? 0);
      } catch (e) {
        // The gauge keeps its last value; the backend's own error handler already counts the outage.
        this.o.logger.debug({ queue: name, err: (e as Error).message }, 'queue depth sample skipped');
      }
    }
  }

  private startWorker(name: QueueName): void {
    if (this.workers.has(name) || this.closed) return;
    const h = this.handlers.get(name);
    if (!h) return;
    const log = this.o.logger;
    const w = this.impl.worker(name, async (job) => {
      const info: JobInfo = { id: job.id ?? '', attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1 };
      try {
        const r = await h.fn(job.data, info);
        metrics.jobs.inc({ queue: name, outcome: 'completed' });
        return r;
      } catch (e) {
        const permanent = isPermanentJobError(e);
        const last = permanent || info.attemptsMade + 1 >= info.attempts;
        metrics.jobs.inc({ queue: name, outcome: last ? 'failed' : 'retry' });
        log.warn({ queue: name, jobId: info.id, attempt: info.attemptsMade + 1, permanent, err: (e as Error).message, code: (e as { code?: string }).code }, last ? 'job failed for good' : 'job failed; will retry');
        if (permanent && !(e instanceof UnrecoverableError)) throw new UnrecoverableError((e as Error).message);
        throw e;
      }
    }, h.concurrency);
    this.workers.set(name, w);
  }

  /**
   * Adds a job. Throws JOB_ERR_ENQUEUE when the backend is unreachable (within `enqueueTimeoutMs`) or the
   * job id is malformed. Returns the job id (the given one, also when it already existed).
   */
  async enqueue<T>(queue: QueueName, data: T, o: EnqueueOptions = {}): Promise<string> {
    if (o.jobId !== undefined && (o.jobId.includes(':') || /^\d+$/.test(o.jobId) || o.jobId.length === 0 || o.jobId.length > 200)) {
      throw new ServiceLaneError('JOB_ERR_ENQUEUE', 'job id must be 1-200 characters, not an integer, without ":"', { queue });
    }
    const backoffMs = o.backoffMs ?? this.defaults.backoffMs;
    const opts: JobsOptions = {
      ...(o.jobId !== undefined ? { jobId: o.jobId } : {}),
      ...(o.delayMs !== undefined && o.delayMs > 0 ? { delay: Math.round(o.delayMs) } : {}),
      attempts: o.attempts ?? this.defaults.attempts,
      backoff: { type: 'exponential', delay: backoffMs, jitter: 0.2 },
      removeOnComplete: KEEP_COMPLETED,
      removeOnFail: KEEP_FAILED,
    };
    try {
      const id = await withDeadline(this.queue(queue).add(data, opts), this.o.enqueueTimeoutMs ?? 3000, () => new Error('enqueue timed out'));
      metrics.jobs.inc({ queue, outcome: 'enqueued' });
      return id ?? o.jobId ?? '';
    } catch (e) {
      metrics.jobs.inc({ queue, outcome: 'enqueue_failed' });
      this.o.logger.error({ queue, jobId: o.jobId, err: (e as Error).message, backend: this.backend }, 'enqueue failed');
      throw new ServiceLaneError('JOB_ERR_ENQUEUE', `could not enqueue a ${queue} job`, { queue, backend: this.backend }, { cause: e });
    }
  }

  /** A job's state, attempts and result, or null when unknown (never added, or removed after 7/30 days). */
  async getJob(queue: QueueName, jobId: string): Promise<JobSnapshot | null> {
    const q = this.queue(queue);
    let job = await q.getJob(jobId);
    if (!job) return null;
    const state = (await job.getState()) as JobStateName;
    // The job may have finished between the two reads: re-read so the result matches the state.
    if (state === 'completed' || state === 'failed') job = (await q.getJob(jobId)) ?? job;
    return {
      id: job.id ?? jobId, state, attemptsMade: job.attemptsMade, data: job.data,
      ...(job.returnvalue !== undefined && job.returnvalue !== null ? { returnValue: job.returnvalue } : {}),
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(job.finishedOn ? { finishedAt: job.finishedOn } : {}),
    };
  }

  /** Waits until the job is completed or failed for good (test and admin helper). */
  async waitForJob(queue: QueueName, jobId: string, o: { timeoutMs?: number } = {}): Promise<JobSnapshot> {
    const until = Date.now() + (o.timeoutMs ?? 15_000);
    for (;;) {
      const s = await this.getJob(queue, jobId);
      if (s && (s.state === 'completed' || s.state === 'failed')) return s;
      if (Date.now() > until) throw new Error(`job ${queue}/${jobId} not finished in time (state ${s?.state ?? 'missing'})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Resolves when no job is waiting, active or delayed in the given queues (all by default). */
  async waitIdle(o: { queues?: QueueName[]; timeoutMs?: number } = {}): Promise<void> {
    const names = o.queues ?? QUEUE_NAMES;
    const until = Date.now() + (o.timeoutMs ?? 15_000);
    for (;;) {
      let busy = 0;
      for (const n of names) {
        const c = await this.queue(n).counts(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
        busy += Object.values(c).reduce((a, b) => a + b, 0);
      }
      if (busy === 0) return;
      if (Date.now() > until) throw new Error(`queues still busy after timeout (${busy} jobs)`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Job counts per state for one queue. */
  counts(queue: QueueName): Promise<Record<string, number>> {
    return this.queue(queue).counts(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized']);
  }

  /**
   * Stops fetching, lets active jobs finish until the deadline, then force-closes (a forced job's lock lapses
   * and another worker reruns it, which is why handlers are idempotent), and closes the queues.
   */
  async close(o: { timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.depthTimer);
    const deadline = o.timeoutMs ?? this.o.closeTimeoutMs ?? 10_000;
    await Promise.all([...this.workers.entries()].map(async ([name, w]) => {
      try {
        await withDeadline(w.close(false), deadline, () => new Error('worker close deadline passed'));
      } catch (e) {
        this.o.logger.warn({ queue: name, err: (e as Error).message }, 'worker did not drain in time; force-closing');
        await withDeadline(w.close(true), 2000, () => new Error('forced close timed out')).catch((err: Error) => this.o.logger.warn({ queue: name, err: err.message }, 'forced worker close failed'));
      }
    }));
    this.workers.clear();
    await Promise.all([...this.queues.entries()].map(([name, q]) => withDeadline(q.close(), 3000, () => new Error('queue close timed out'))
      .catch((e: Error) => this.o.logger.warn({ queue: name, err: e.message }, 'queue close failed'))));
    this.queues.clear();
  }
}
