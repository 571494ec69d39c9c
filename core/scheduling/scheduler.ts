import type { Knex } from 'knex';
import { ServiceLaneError, isServiceLaneError } from '../errors.js';
import type { Jobs } from '../jobs/jobs.js';
import { enqueueCalendarSync } from './calendar-sync.js';
import { SYNC_OUTBOX_TABLE, writeSyncIntent, type CalendarSyncData } from './sync-outbox.js';
import { writeEmailIntent, type EmailJobData } from '../jobs/email-outbox.js';
import { enqueueEmail } from '../jobs/email-job.js';
import type { Logger } from '../observability/logger.js';
import { syncAppointmentReminders, type ReminderChange } from '../outbound/reminder-schedule.js';
import { metrics } from '../observability/metrics.js';
import type { PluginRegistry } from '../registry/registry.js';
import { withTimeout } from '../resilience/index.js';
import type { DealershipConfig } from '../tenancy/config.js';
import type { TenantService } from '../tenancy/tenants.js';
import {
  assignResources, candidateSlots, firstFreeResource, nextFreeSlots, resolveBookingStart, resourcesFor, serviceTypeOf,
  type BusyMs, type Slot,
} from './availability.js';
import {
  bookedBusy, toAppointment, UUID_RE, type Appointment, type AppointmentRow, type SyncState,
} from './appointments.js';
import { E164_RE } from '../sdk/phone.js';

export type { Slot } from './availability.js';
export type { Appointment, AppointmentStatus, SyncState } from './appointments.js';

export interface SchedulerOptions {
  tenants: TenantService;
  registry: PluginRegistry;
  jobs: Jobs;
  logger: Logger;
  /** Retry policy of calendar-sync jobs (default 10 attempts, exponential from 5 s: about 40 minutes in all). */
  sync?: { attempts?: number; backoffMs?: number };
  /** How long a sync intent waits for the fast-path job before the outbox loop queues it (default 60 s). */
  outboxLeaseMs?: number;
  /** Budget for the external calendar's busy query while a caller waits (default 2.5 s); on expiry, Postgres only. */
  busyTimeoutMs?: number;
  /** How many alternatives a "slot taken" offers (default 3). */
  alternatives?: number;
  /** Retry policy of confirmation-email jobs (default 8 attempts, exponential from 10 s). */
  emailRetry?: { attempts?: number; backoffMs?: number };
  /**
   * Busy time of the external calendar mirrored into Postgres (core/integrations/google/sync.ts), or null when
   * the tenant has no mirror; then the calendar plugin is asked live, as before.
   */
  mirroredBusy?: (q: { tenantId: string; fromMs: number; toMs: number }) => Promise<BusyMs[] | null>;
}

export interface BookInput {
  tenantId: string;
  customer: { id: string; name: string; phone?: string };
  vehicleId?: string;
  serviceType: string;
  /** ISO 8601 with an offset; must be a slot availableSlots would offer. */
  start: string;
  callSid?: string;
  /** A retry with the same key returns the first booking instead of making a second. */
  idempotencyKey?: string;
  notes?: string;
  source?: string;
  now?: Date;
}

type SyncAction = CalendarSyncData['action'];

const SELECT_COLS = [
  'id', 'customer_id', 'vehicle_id', 'customer_name', 'customer_phone', 'resource_id', 'service_type', 'service_name',
  'starts_at', 'ends_at', 'status', 'source', 'call_sid', 'notes', 'cancel_reason', 'idempotency_key', 'external_event_id',
  'sync_state', 'revision', 'synced_revision', 'sync_error',
] as const;

const DAY_MS = 24 * 3600_000;
/** How far past a taken slot alternatives may come from. */
const ALTERNATIVE_DAYS = 7;
const MAX_LIST_RANGE_MS = 400 * DAY_MS;

function badField(field: string, message: string): ServiceLaneError {
  return new ServiceLaneError('VOI_ERR_BOOKING_INVALID', message, { reason: 'field', field });
}

function text(v: unknown, o: { field: string; max: number; optional?: boolean; pattern?: RegExp }): string | null {
  if (v === undefined || v === null) {
    if (o.optional) return null;
    throw badField(o.field, `${o.field} is required`);
  }
  if (typeof v !== 'string') throw badField(o.field, `${o.field} must be a string`);
  const t = v.trim();
  if (t.length === 0) {
    if (o.optional) return null;
    throw badField(o.field, `${o.field} must not be empty`);
  }
  if (t.length > o.max) throw badField(o.field, `${o.field} must be at most ${o.max} characters`);
  if (o.pattern && !o.pattern.test(t)) throw badField(o.field, `${o.field} is malformed`);
  return t;
}

function instantMs(v: unknown, field: string): number {
  if (typeof v !== 'string' || v.length > 40 || !/(Z|[+-]\d{2}:?\d{2})$/i.test(v)) throw badField(field, `${field} must be an ISO 8601 instant with an offset`);
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw badField(field, `${field} is not a valid instant`);
  return ms;
}

const pgCode = (e: unknown): string | undefined => (e as { code?: string } | undefined)?.code;

/**
 * Races that a fresh transaction resolves: an exclusion or unique conflict surfacing outside our handler, and
 * a deadlock, which two inserts checking the same gist exclusion constraint against each other's uncommitted
 * rows can produce (Postgres aborts one with 40P01).
 */
const RETRY_CODES: ReadonlySet<string> = new Set(['23P01', '23505', '40P01']);
const MAX_ROUNDS = 20;

/**
 * An error that escaped a booking transaction (which rolled back): a deadlock or serialization race that a
 * fresh transaction resolves becomes a retry, up to MAX_ROUNDS; anything else is a real failure.
 */
function retryRace(e: unknown, round: number): { retry: true } {
  if (RETRY_CODES.has(pgCode(e) ?? '') && round < MAX_ROUNDS) {
    metrics.bookings.inc({ outcome: pgCode(e) === '40P01' ? 'retry_deadlock' : 'retry_conflict' });
    return { retry: true };
  }
  throw e;
}

/**
 * Serialises writers of one resource for the rest of the transaction. Without it, concurrent inserts of
 * overlapping rows each wait on the other's uncommitted row in the exclusion check: deadlocks (1 s to detect
 * each) and chains of waits past the statement timeout. With it, a second writer waits only for the first
 * to commit and then gets 23P01 at once. The constraint stays the authority; this only orders the queue.
 */
async function lockResource(trx: Knex.Transaction, tenantId: string, resourceId: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`book:${tenantId}:${resourceId}`]);
}

/**
 * The exclusion constraints of migrations/tenant/045 that protect the booked vehicle (or, without a vehicle, the
 * customer) rather than the bay. Their 23P01 must not mean "try the next bay": every bay would fail the same way.
 */
const SUBJECT_CONSTRAINTS: ReadonlySet<string> = new Set(['appointments_vehicle_no_overlap', 'appointments_customer_no_overlap']);

/** A 23P01 from one of SUBJECT_CONSTRAINTS (pg puts the violated constraint's name on the error). */
function isSubjectOverlap(e: unknown): boolean {
  return pgCode(e) === '23P01' && SUBJECT_CONSTRAINTS.has((e as { constraint?: string }).constraint ?? '');
}

function subjectOverlap(o: { vehicleId: string | null; start: string }): ServiceLaneError {
  metrics.bookings.inc({ outcome: 'overlap' });
  return new ServiceLaneError('VOI_ERR_BOOKING_OVERLAP', o.vehicleId
    ? 'that vehicle already has an appointment at that time'
    : 'that customer already has an appointment at that time', { requested: o.start, subject: o.vehicleId ? 'vehicle' : 'customer' });
}

/** Counts a committed change to an appointment's reminders (after commit, so a rolled-back attempt counts nothing). */
function countReminders(c: ReminderChange | undefined): void {
  if (!c) return;
  for (const event of ['scheduled', 'superseded', 'cancelled'] as const) if (c[event]) metrics.reminders.inc({ event }, c[event]);
}

/**
 * Availability and bookings. Postgres is the authority: the gist exclusion on (resource_id, tstzrange) turns a
 * race into 23P01 and so into VOI_ERR_SLOT_TAKEN with alternatives. An external calendar plugin contributes
 * busy time when it answers in time (otherwise availability degrades to Postgres only) and receives bookings
 * afterwards through the retrying `calendar-sync` job; the built-in calendar needs neither.
 */
export class Scheduler {
  private readonly syncAttempts: number;
  private readonly syncBackoffMs: number;
  private readonly busyTimeoutMs: number;
  private readonly alternatives: number;

  constructor(private readonly o: SchedulerOptions) {
    this.syncAttempts = o.sync?.attempts ?? 10;
    this.syncBackoffMs = o.sync?.backoffMs ?? 5_000;
    this.busyTimeoutMs = o.busyTimeoutMs ?? 2_500;
    this.alternatives = o.alternatives ?? 3;
  }

  private async config(tenantId: string): Promise<DealershipConfig> {
    const t = await this.o.tenants.getActive(tenantId);
    if (!t.config) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; scheduling is disabled', { errors: t.configErrors });
    return t.config;
  }

  /** Whether the tenant's calendar of record lives outside Postgres (needs busy queries and mirroring). */
  isExternalCalendar(config: DealershipConfig): boolean {
    const m = this.o.registry.manifest(config.plugins.calendar.plugin);
    return m?.capabilities.builtin !== true;
  }

  /**
   * Busy time from an external calendar, bounded by busyTimeoutMs. Any failure (outage, breaker open, slot
   * disabled) degrades to Postgres-only availability with a log line and a metric: a caller still gets slots,
   * and the exclusion constraint still guarantees no double booking among ours.
   */
  private async externalBusy(tenantId: string, config: DealershipConfig, fromMs: number, toMs: number): Promise<BusyMs[]> {
    if (!this.isExternalCalendar(config)) return [];
    try {
      const mirrored = await this.o.mirroredBusy?.({ tenantId, fromMs, toMs });
      if (mirrored) return mirrored;
      const cal = await this.o.registry.tryGet(tenantId, 'calendar');
      if (!cal) return [];
      const query = withTimeout((q: { signal?: AbortSignal }) => cal.getBusy({ from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), signal: q.signal }),
        { ms: this.busyTimeoutMs, name: `${config.plugins.calendar.plugin}.getBusy (scheduler budget)` });
      const busy = await query({});
      return busy.flatMap((b): BusyMs[] => {
        const s = Date.parse(b.start);
        const e = Date.parse(b.end);
        return Number.isNaN(s) || Number.isNaN(e) || e <= s ? [] : [{ startMs: s, endMs: e, ...(b.resourceId ? { resourceId: b.resourceId } : {}) }];
      });
    } catch (e) {
      const reason = isServiceLaneError(e) ? e.code : (e as { category?: string }).category ?? 'unknown';
      metrics.calendarDegraded.inc({ reason });
      this.o.logger.warn({ tenantId, plugin: config.plugins.calendar.plugin, reason, err: (e as Error).message }, 'external calendar busy query failed; availability from Postgres only');
      return [];
    }
  }

  /** Free slots for a local date (YYYY-MM-DD in the dealership's zone) and service type, earliest first. */
  async availableSlots(o: { tenantId: string; date: string; serviceType: string; now?: Date; limit?: number }): Promise<Slot[]> {
    const config = await this.config(o.tenantId);
    const now = o.now ?? new Date();
    const candidates = candidateSlots({ config, date: o.date, serviceType: o.serviceType, now });
    if (candidates.length === 0) return [];
    const fromMs = candidates[0]!.startMs;
    const toMs = Math.max(...candidates.map((c) => c.endMs));
    const [booked, external] = await Promise.all([
      this.o.tenants.withTenant(o.tenantId, (trx) => bookedBusy(trx, { fromMs, toMs })),
      this.externalBusy(o.tenantId, config, fromMs, toMs),
    ]);
    const limit = o.limit === undefined ? undefined : Math.max(1, Math.min(200, Math.floor(o.limit)));
    return assignResources({ config, serviceType: o.serviceType, candidates, busy: [...booked, ...external], limit });
  }

  /** The next free slots after `afterMs` (for "slot taken" answers), from one range query. */
  private async alternativesAfter(o: { tenantId: string; config: DealershipConfig; serviceType: string; afterMs: number; now: Date; external: BusyMs[] }): Promise<Slot[]> {
    const toMs = o.afterMs + ALTERNATIVE_DAYS * DAY_MS;
    const booked = await this.o.tenants.withTenant(o.tenantId, (trx) => bookedBusy(trx, { fromMs: o.afterMs, toMs }));
    return nextFreeSlots({
      config: o.config, serviceType: o.serviceType, afterMs: o.afterMs, now: o.now, busy: [...booked, ...o.external],
      limit: this.alternatives, maxDays: ALTERNATIVE_DAYS,
    });
  }

  private async slotTaken(o: { tenantId: string; config: DealershipConfig; serviceType: string; startMs: number; start: string; now: Date; external: BusyMs[] }): Promise<ServiceLaneError> {
    metrics.bookings.inc({ outcome: 'slot_taken' });
    let alternatives: Slot[] = [];
    try {
      alternatives = await this.alternativesAfter({ ...o, afterMs: o.startMs });
    } catch (e) {
      this.o.logger.warn({ tenantId: o.tenantId, err: (e as Error).message }, 'could not compute alternatives for a taken slot');
    }
    return new ServiceLaneError('VOI_ERR_SLOT_TAKEN', 'that time was just taken', { requested: o.start, alternatives });
  }

  private async byIdempotencyKey(tenantId: string, key: string): Promise<AppointmentRow | undefined> {
    return this.o.tenants.withTenant(tenantId, (trx) => trx('appointments').where({ idempotency_key: key }).first(SELECT_COLS) as Promise<AppointmentRow | undefined>);
  }

  /**
   * Books a slot. Validates every field and the start (a real, future, on-grid slot inside the horizon) before
   * any query; tries the free resources in order, each insert guarded by the exclusion constraint. A retry with
   * the same idempotencyKey returns the first booking (found through the key's unique index when the insert or
   * the validation fails, so the common path costs one transaction). Throws VOI_ERR_BOOKING_INVALID,
   * VOI_ERR_SLOT_TAKEN (details.alternatives), TEN_ERR_*.
   */
  async book(o: BookInput): Promise<Appointment> {
    let customerId: string, name: string, phone: string | null, vehicleId: string | null, notes: string | null;
    let callSid: string | null, key: string | null, source: string;
    try {
      if (typeof o.customer !== 'object' || o.customer === null) throw badField('customer', 'customer is required');
      customerId = text(o.customer.id, { field: 'customer.id', max: 200 })!;
      name = text(o.customer.name, { field: 'customer.name', max: 200 })!;
      phone = text(o.customer.phone, { field: 'customer.phone', max: 16, optional: true, pattern: E164_RE });
      vehicleId = text(o.vehicleId, { field: 'vehicleId', max: 200, optional: true });
      notes = text(o.notes, { field: 'notes', max: 2000, optional: true });
      callSid = text(o.callSid, { field: 'callSid', max: 64, optional: true, pattern: /^[A-Za-z0-9_-]+$/ });
      key = text(o.idempotencyKey, { field: 'idempotencyKey', max: 200, optional: true });
      source = text(o.source, { field: 'source', max: 40, optional: true, pattern: /^[a-z][a-z0-9_-]*$/ }) ?? 'voice';
    } catch (e) {
      metrics.bookings.inc({ outcome: 'invalid' });
      throw e;
    }
    const config = await this.config(o.tenantId);
    const now = o.now ?? new Date();
    const existing = async (): Promise<Appointment | null> => {
      const row = key ? await this.byIdempotencyKey(o.tenantId, key) : undefined;
      if (!row) return null;
      metrics.bookings.inc({ outcome: 'idempotent' });
      return toAppointment(row, config);
    };
    let slot: ReturnType<typeof resolveBookingStart>;
    try {
      slot = resolveBookingStart({ config, start: o.start, serviceType: o.serviceType, now });
    } catch (e) {
      // A retry of a booking made earlier (its slot may have passed since) still answers with that booking.
      const prior = await existing();
      if (prior) return prior;
      metrics.bookings.inc({ outcome: 'invalid' });
      throw e;
    }
    const service = serviceTypeOf(config, o.serviceType);
    const resourceIds = resourcesFor(config, service);
    const external = this.isExternalCalendar(config);
    const extBusy = await this.externalBusy(o.tenantId, config, slot.startMs, slot.endMs);

    const tried = new Set<string>();
    let rounds = 0;
    for (;;) {
      const attempt = await this.o.tenants.withTenant(o.tenantId, async (trx): Promise<{ row?: AppointmentRow; reminders?: ReminderChange; email?: EmailJobData | null; taken?: true; conflict?: string; duplicateKey?: true; overlap?: true }> => {
        const busy = [...await bookedBusy(trx, { fromMs: slot.startMs, toMs: slot.endMs }), ...extBusy];
        const resourceId = firstFreeResource({ resourceIds: resourceIds.filter((r) => !tried.has(r)), startMs: slot.startMs, endMs: slot.endMs, busy });
        if (resourceId === null) return { taken: true };
        await lockResource(trx, o.tenantId, resourceId);
        try {
          const [row] = await trx('appointments').insert({
            customer_id: customerId, vehicle_id: vehicleId, customer_name: name, customer_phone: phone,
            resource_id: resourceId, service_type: service.id, service_name: service.name,
            starts_at: new Date(slot.startMs), ends_at: new Date(slot.endMs),
            source, call_sid: callSid, notes, idempotency_key: key,
            sync_state: external ? 'pending' : 'none',
          }).returning(SELECT_COLS) as AppointmentRow[];
          if (external) await this.writeIntent(trx, o.tenantId, row!, 'create');
          const reminders = await syncAppointmentReminders(trx, { config, appointment: row!, now });
          const email = await writeEmailIntent(trx, { tenantId: o.tenantId, config, appointment: row!, kind: 'booked', leaseMs: this.o.outboxLeaseMs });
          return { row: row!, reminders, email };
        } catch (e) {
          if (isSubjectOverlap(e)) return { overlap: true };
          // Lost the race for this resource (another booking committed first): try the next one in a fresh transaction.
          if (pgCode(e) === '23P01') return { conflict: resourceId };
          if (pgCode(e) === '23505' && key) return { duplicateKey: true };
          throw e;
        }
      }).catch((e: unknown) => retryRace(e, ++rounds));
      if ('retry' in attempt) continue;
      if (attempt.conflict) { tried.add(attempt.conflict); continue; }
      if (attempt.overlap) {
        // The same call repeating itself overlaps its own first booking: that is the idempotent answer, not a refusal.
        const prior = await existing();
        if (prior) return prior;
        throw subjectOverlap({ vehicleId, start: o.start });
      }
      if (attempt.duplicateKey) {
        const prior = await existing();
        if (prior) return prior;
        if (++rounds >= MAX_ROUNDS) throw new ServiceLaneError('ADM_ERR_INTERNAL', 'booking kept colliding on its idempotency key');
        continue;
      }
      if (attempt.taken) {
        // A retry finds its own first booking in the slot (or a concurrent twin won it): answer with that booking.
        const prior = await existing();
        if (prior) return prior;
        throw await this.slotTaken({ tenantId: o.tenantId, config, serviceType: service.id, startMs: slot.startMs, start: o.start, now, external: extBusy });
      }
      const row = attempt.row!;
      metrics.bookings.inc({ outcome: 'booked' });
      countReminders(attempt.reminders);
      this.o.logger.info({ tenantId: o.tenantId, appointmentId: row.id, resourceId: row.resource_id, serviceType: row.service_type, callSid }, 'appointment booked');
      if (external) await this.enqueueSync(o.tenantId, row, 'create');
      await this.enqueueEmail(attempt.email);
      return toAppointment(row, config);
    }
  }

  /**
   * Records the sync intent in the change's own transaction (the outbox, core/scheduling/sync-outbox.ts): whatever
   * happens to the queue afterwards, the worker's outbox loop queues it once the fast path's lease runs out.
   */
  private async writeIntent(trx: Knex.Transaction, tenantId: string, row: Pick<AppointmentRow, 'id' | 'revision'>, action: SyncAction): Promise<void> {
    await writeSyncIntent(trx, { data: { tenantId, appointmentId: row.id, action, revision: row.revision }, leaseMs: this.o.outboxLeaseMs });
  }

  /**
   * Queues the mirror of a change at once (the fast path). The booking and its outbox row are already
   * committed, so a queue outage must not undo it: the outbox loop queues it later.
   */
  private async enqueueSync(tenantId: string, row: Pick<AppointmentRow, 'id' | 'revision'>, action: SyncAction): Promise<void> {
    const data: CalendarSyncData = { tenantId, appointmentId: row.id, action, revision: row.revision };
    try {
      await enqueueCalendarSync(this.o.jobs, data, { attempts: this.syncAttempts, backoffMs: this.syncBackoffMs });
    } catch (e) {
      this.o.logger.warn({ tenantId, appointmentId: row.id, action, err: (e as Error).message }, 'calendar sync not queued now; the outbox queues it when the queue is back');
    }
  }

  /**
   * Queues a confirmation email at once (the fast path). Its intent is already committed with the change
   * (core/jobs/email-outbox.ts), so a queue outage only delays it until the outbox loop queues it.
   */
  private async enqueueEmail(data: EmailJobData | null | undefined): Promise<void> {
    if (!data) return;
    try {
      await enqueueEmail(this.o.jobs, data, this.o.emailRetry);
    } catch (e) {
      this.o.logger.warn({ tenantId: data.tenantId, appointmentId: data.appointmentId, kind: data.kind, err: (e as Error).message }, 'confirmation email not queued now; the outbox queues it when the queue is back');
    }
  }

  private async lockRow(trx: Knex.Transaction, appointmentId: string): Promise<AppointmentRow> {
    const row = await trx('appointments').where({ id: appointmentId }).forUpdate().first(SELECT_COLS) as AppointmentRow | undefined;
    if (!row) throw new ServiceLaneError('VOI_ERR_APPOINTMENT_NOT_FOUND', 'no such appointment');
    return row;
  }

  private checkId(appointmentId: unknown): string {
    if (typeof appointmentId !== 'string' || !UUID_RE.test(appointmentId)) throw new ServiceLaneError('VOI_ERR_APPOINTMENT_NOT_FOUND', 'no such appointment');
    return appointmentId;
  }

  /** Cancels a booking (idempotent: cancelling a cancelled one returns it). Frees the slot at once. */
  async cancel(o: { tenantId: string; appointmentId: string; reason?: string }): Promise<Appointment> {
    const id = this.checkId(o.appointmentId);
    const reason = text(o.reason, { field: 'reason', max: 500, optional: true });
    const config = await this.config(o.tenantId);
    const external = this.isExternalCalendar(config);
    const { row, changed, reminders, email } = await this.o.tenants.withTenant(o.tenantId, async (trx): Promise<{ row: AppointmentRow; changed: boolean; reminders?: ReminderChange; email?: EmailJobData | null }> => {
      const cur = await this.lockRow(trx, id);
      if (cur.status === 'cancelled') return { row: cur, changed: false };
      if (cur.status !== 'booked') throw new ServiceLaneError('VOI_ERR_APPOINTMENT_STATE', `the appointment is ${cur.status.replace('_', ' ')}`, { status: cur.status });
      // Anything that may exist in the external calendar (synced, or a create possibly in flight) must be removed there.
      const mirrored = external && cur.sync_state !== 'none';
      const [next] = await trx('appointments').where({ id }).update({
        status: 'cancelled', cancel_reason: reason, revision: trx.raw('revision + 1'), updated_at: trx.fn.now(),
        ...(mirrored ? { sync_state: 'pending' satisfies SyncState } : {}),
      }).returning(SELECT_COLS) as AppointmentRow[];
      if (mirrored) await this.writeIntent(trx, o.tenantId, next!, 'cancel');
      const reminders = await syncAppointmentReminders(trx, { config, appointment: next!, now: new Date() });
      const email = await writeEmailIntent(trx, { tenantId: o.tenantId, config, appointment: next!, kind: 'cancelled', leaseMs: this.o.outboxLeaseMs });
      return { row: next!, changed: true, reminders, email };
    });
    if (changed) {
      countReminders(reminders);
      this.o.logger.info({ tenantId: o.tenantId, appointmentId: id }, 'appointment cancelled');
      if (row.sync_state === 'pending') await this.enqueueSync(o.tenantId, row, 'cancel');
      await this.enqueueEmail(email);
    }
    return toAppointment(row, config);
  }

  /**
   * Moves a booking to a new slot in one transaction: the row is locked, the new range is guarded by the
   * exclusion constraint (the row's own old range doesn't conflict with itself), and on a conflict nothing
   * changes and VOI_ERR_SLOT_TAKEN carries alternatives. Keeps the resource when it is free.
   */
  async reschedule(o: { tenantId: string; appointmentId: string; newStart: string; now?: Date }): Promise<Appointment> {
    const id = this.checkId(o.appointmentId);
    const config = await this.config(o.tenantId);
    const now = o.now ?? new Date();
    const current = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments').where({ id }).first(SELECT_COLS) as Promise<AppointmentRow | undefined>);
    if (!current) throw new ServiceLaneError('VOI_ERR_APPOINTMENT_NOT_FOUND', 'no such appointment');
    if (current.status !== 'booked') throw new ServiceLaneError('VOI_ERR_APPOINTMENT_STATE', `the appointment is ${current.status.replace('_', ' ')}`, { status: current.status });
    if (!config.serviceTypes.some((s) => s.id === current.service_type)) {
      throw new ServiceLaneError('VOI_ERR_BOOKING_INVALID', 'the appointment\'s service type is no longer offered', { reason: 'service_type' });
    }
    const slot = resolveBookingStart({ config, start: o.newStart, serviceType: current.service_type, now });
    if (slot.startMs === current.starts_at.getTime() && slot.endMs === current.ends_at.getTime()) return toAppointment(current, config);
    const resourceIds = resourcesFor(config, serviceTypeOf(config, current.service_type));
    const external = this.isExternalCalendar(config);
    // The calendar may still show this booking at its old time (its own mirrored event): that is not a conflict.
    const extBusy = (await this.externalBusy(o.tenantId, config, slot.startMs, slot.endMs)).filter((b) =>
      !(b.resourceId === current.resource_id && b.startMs === current.starts_at.getTime() && b.endMs === current.ends_at.getTime()));

    const tried = new Set<string>();
    let rounds = 0;
    for (;;) {
      const attempt = await this.o.tenants.withTenant(o.tenantId, async (trx): Promise<{ row?: AppointmentRow; reminders?: ReminderChange; email?: EmailJobData | null; taken?: true; conflict?: string; overlap?: true }> => {
        const cur = await this.lockRow(trx, id);
        if (cur.status !== 'booked') throw new ServiceLaneError('VOI_ERR_APPOINTMENT_STATE', `the appointment is ${cur.status.replace('_', ' ')}`, { status: cur.status });
        const busy = [...await bookedBusy(trx, { fromMs: slot.startMs, toMs: slot.endMs, excludeId: id }), ...extBusy];
        const order = [cur.resource_id, ...resourceIds.filter((r) => r !== cur.resource_id)].filter((r) => resourceIds.includes(r) && !tried.has(r));
        const resourceId = firstFreeResource({ resourceIds: order, startMs: slot.startMs, endMs: slot.endMs, busy });
        if (resourceId === null) return { taken: true };
        await lockResource(trx, o.tenantId, resourceId);
        try {
          const [row] = await trx('appointments').where({ id }).update({
            starts_at: new Date(slot.startMs), ends_at: new Date(slot.endMs), resource_id: resourceId,
            revision: trx.raw('revision + 1'), updated_at: trx.fn.now(),
            // A row marked by migration 045 as a legacy overlap comes back under the vehicle/customer rule once moved.
            overlap_exempt: false,
            ...(external ? { sync_state: 'pending' satisfies SyncState } : {}),
          }).returning(SELECT_COLS) as AppointmentRow[];
          if (external) await this.writeIntent(trx, o.tenantId, row!, 'update');
          // The old time's reminders are superseded and the new time's written in this same transaction.
          const reminders = await syncAppointmentReminders(trx, { config, appointment: row!, now });
          const email = await writeEmailIntent(trx, { tenantId: o.tenantId, config, appointment: row!, kind: 'moved', leaseMs: this.o.outboxLeaseMs });
          return { row: row!, reminders, email };
        } catch (e) {
          if (isSubjectOverlap(e)) return { overlap: true };
          if (pgCode(e) === '23P01') return { conflict: resourceId };
          throw e;
        }
      }).catch((e: unknown) => retryRace(e, ++rounds));
      if ('retry' in attempt) continue;
      if (attempt.conflict) { tried.add(attempt.conflict); continue; }
      if (attempt.overlap) throw subjectOverlap({ vehicleId: current.vehicle_id, start: o.newStart });
      if (attempt.taken) {
        throw await this.slotTaken({ tenantId: o.tenantId, config, serviceType: current.service_type, startMs: slot.startMs, start: o.newStart, now, external: extBusy });
      }
      const row = attempt.row!;
      countReminders(attempt.reminders);
      this.o.logger.info({ tenantId: o.tenantId, appointmentId: id, resourceId: row.resource_id }, 'appointment rescheduled');
      if (external) await this.enqueueSync(o.tenantId, row, 'update');
      await this.enqueueEmail(attempt.email);
      return toAppointment(row, config);
    }
  }

  /** One appointment, or null when the id is unknown (or not an id at all). */
  async get(o: { tenantId: string; appointmentId: string }): Promise<Appointment | null> {
    const config = await this.config(o.tenantId);
    if (typeof o.appointmentId !== 'string' || !UUID_RE.test(o.appointmentId)) return null;
    const row = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments').where({ id: o.appointmentId }).first(SELECT_COLS) as Promise<AppointmentRow | undefined>);
    return row ? toAppointment(row, config) : null;
  }

  /** The customer's booked appointments that have not started yet, soonest first. */
  async upcoming(o: { tenantId: string; customerId: string; now?: Date; limit?: number }): Promise<Appointment[]> {
    const config = await this.config(o.tenantId);
    const customerId = text(o.customerId, { field: 'customerId', max: 200 })!;
    const limit = Math.max(1, Math.min(50, Math.floor(o.limit ?? 10)));
    const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments')
      .where({ customer_id: customerId, status: 'booked' })
      .where('starts_at', '>', o.now ?? new Date())
      .orderBy('starts_at').limit(limit).select(SELECT_COLS) as Promise<AppointmentRow[]>);
    return rows.map((r) => toAppointment(r, config));
  }

  /** Appointments starting in [from, to) (ISO instants), every status, in start order. At most `limit` (500). */
  async list(o: { tenantId: string; from: string; to: string; limit?: number }): Promise<Appointment[]> {
    const fromMs = instantMs(o.from, 'from');
    const toMs = instantMs(o.to, 'to');
    if (toMs <= fromMs) throw badField('to', 'to must be after from');
    if (toMs - fromMs > MAX_LIST_RANGE_MS) throw badField('to', 'range must be at most 400 days');
    const config = await this.config(o.tenantId);
    const limit = Math.max(1, Math.min(1000, Math.floor(o.limit ?? 500)));
    const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments')
      .where('starts_at', '>=', new Date(fromMs)).where('starts_at', '<', new Date(toMs))
      .orderBy('starts_at').limit(limit).select(SELECT_COLS) as Promise<AppointmentRow[]>);
    return rows.map((r) => toAppointment(r, config));
  }

  /**
   * Re-queues mirroring for bookings `failed` (retries exhausted during a long outage) or still `pending` after
   * `olderThanMs` with no open outbox row (changes from before the outbox; the outbox covers the rest). Safe to
   * run on a schedule: the job acts on the current row, once. `sweep` names the run: pods running the same
   * sweep queue the same job ids, so the queue keeps one of each.
   */
  async resync(o: { tenantId: string; olderThanMs?: number; limit?: number; sweep?: string }): Promise<number> {
    const config = await this.config(o.tenantId);
    if (!this.isExternalCalendar(config)) return 0;
    const cutoff = new Date(Date.now() - (o.olderThanMs ?? 10 * 60_000));
    const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('appointments')
      .where((q) => q.where('sync_state', 'failed').orWhere((p) => p.where('sync_state', 'pending').where('updated_at', '<', cutoff)
        .whereNotExists((x) => x.select(trx.raw('1')).from(SYNC_OUTBOX_TABLE)
          .where(`${SYNC_OUTBOX_TABLE}.tenant_id`, o.tenantId).whereRaw(`${SYNC_OUTBOX_TABLE}.appointment_id = appointments.id`).whereNull(`${SYNC_OUTBOX_TABLE}.done_at`))))
      .orderBy('updated_at').limit(o.limit ?? 200).select('id', 'revision', 'status', 'external_event_id') as Promise<Pick<AppointmentRow, 'id' | 'revision' | 'status' | 'external_event_id'>[]>);
    // A fresh id per sweep: the job of the same revision may still be kept (and so deduplicated) as failed.
    const sweep = o.sweep ?? Date.now().toString(36);
    for (const r of rows) {
      const action: SyncAction = r.status === 'cancelled' ? 'cancel' : r.external_event_id ? 'update' : 'create';
      const data: CalendarSyncData = { tenantId: o.tenantId, appointmentId: r.id, action, revision: r.revision };
      await enqueueCalendarSync(this.o.jobs, data, { attempts: this.syncAttempts, backoffMs: this.syncBackoffMs }, { sweep });
    }
    return rows.length;
  }

  /**
   * The periodic sweep over every active tenant with an external calendar (the worker's outbox loop runs it).
   * One tenant's failure (bad config, queue down) is logged and the sweep goes on.
   */
  async resyncAll(o: { sweep: string; olderThanMs?: number }): Promise<number> {
    let queued = 0;
    for (const t of await this.o.tenants.list()) {
      if (t.status !== 'active' || !t.config || !this.isExternalCalendar(t.config)) continue;
      try {
        queued += await this.resync({ tenantId: t.id, sweep: o.sweep, ...(o.olderThanMs !== undefined ? { olderThanMs: o.olderThanMs } : {}) });
      } catch (e) {
        this.o.logger.warn({ tenantId: t.id, err: (e as Error).message }, 'calendar resync sweep skipped a tenant');
      }
    }
    return queued;
  }
}
