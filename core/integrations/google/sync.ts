import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { DateTime } from 'luxon';
import type { calendar_v3 } from 'googleapis/build/src/apis/calendar/index.js';
import { ServiceLaneError } from '../../errors.js';
import type { Jobs } from '../../jobs/jobs.js';
import type { Logger } from '../../observability/logger.js';
import { metrics } from '../../observability/metrics.js';
import type { TenantService } from '../../tenancy/tenants.js';
import { calendarFor, isInvalidGrant, statusOf, type GoogleEndpoints } from './google-api.js';
import { Connections, type Connection } from './connections.js';

/**
 * Keeping the mirror of a dealership's Google Calendar current (docs/google.md, "Sync"):
 * - a push channel (events.watch) per connected tenant, with a random secret token per channel; Google POSTs
 *   to PUSH_PATH on every change and the webhook queues a `calendar-changes` job;
 * - the job lists what changed since the stored syncToken (410 Gone → a full listing) and writes the
 *   dealership's own busy events into the tenant's `external_busy` table, which availability reads instead of
 *   asking Google on every request;
 * - channels are renewed before they expire (Google never renews them) by a loop in the worker role.
 * No database transaction or connection is held while Google is being asked: the job reads what it needs,
 * talks to Google, then writes in one short transaction guarded by a compare-and-set on sync_generation.
 */

export const SOURCE = 'google';
/** Private extended property the calendar-google plugin puts on the bookings it mirrors: those are appointments already. */
const OUR_TAG = 'servicelane';
const MAX_PAGES = 40;
/** Past busy time is useless to availability: events that ended more than a day ago are not kept. */
const KEEP_PAST_MS = 24 * 3600_000;
/** Compare-and-set rounds before a sync gives up to the next notification (each round is one incremental list). */
const MAX_ROUNDS = 3;

export interface CalendarChangesData { tenantId: string; reason: 'push' | 'connect' | 'renewal' | 'resync' }
export type SyncOutcome = 'synced' | 'full_resync' | 'not_connected' | 'needs_reconnect' | 'superseded';

export interface GoogleSyncOptions {
  db: Knex;
  tenants: TenantService;
  jobs: Jobs;
  logger: Logger;
  endpoints: GoogleEndpoints;
  /** Renew a channel this long before it expires (default 24 h). */
  renewBeforeMs?: number;
  /** Requested channel lifetime (default 7 days; Google caps it about there). */
  channelTtlMs?: number;
  /** Timeout of each Google call (default 10 s). */
  timeoutMs?: number;
  now?: () => number;
}

interface MirrorRow { event_id: string; starts_at: Date; ends_at: Date }

/** A busy interval from the mirror, in the shape the scheduler merges (no resourceId: it blocks the whole shop). */
export interface MirroredBusy { startMs: number; endMs: number }

export class GoogleSync {
  readonly connections: Connections;
  private readonly now: () => number;

  constructor(private readonly o: GoogleSyncOptions) {
    this.connections = new Connections(o.db);
    this.now = o.now ?? Date.now;
  }

  private opts() { return { retry: false, timeout: this.o.timeoutMs ?? 10_000 }; }

  private async refreshTokenOf(c: Connection): Promise<string | null> {
    const cred = await this.o.tenants.getCredential(c.tenantId, c.credentialName) as { refreshToken?: unknown } | undefined;
    return typeof cred?.refreshToken === 'string' ? cred.refreshToken : null;
  }

  /** invalid_grant anywhere → the connection is marked needs_reconnect (visible in the admin API), and the caller stops. */
  private async onGrantRefused(c: Connection, e: unknown): Promise<boolean> {
    if (!isInvalidGrant(e)) return false;
    await this.connections.markNeedsReconnect(c.tenantId, 'invalid_grant: Google refused the stored grant');
    metrics.googleSync.inc({ outcome: 'needs_reconnect' });
    this.o.logger.warn({ tenantId: c.tenantId }, 'google grant refused (invalid_grant); the tenant must reconnect Google Calendar');
    return true;
  }

  // ---- availability -----------------------------------------------------------------------------

  /**
   * The mirrored busy time in [fromMs, toMs), or null when the tenant has no completed sync (availability then
   * asks the calendar plugin live, as before). A connection that needs reconnecting still answers with its
   * last mirror: staff events known until the grant died keep blocking their slots.
   */
  async mirroredBusy(o: { tenantId: string; fromMs: number; toMs: number }): Promise<MirroredBusy[] | null> {
    const c = await this.connections.get(o.tenantId);
    if (!c || !c.calendarId || !c.lastSyncedAt) return null;
    const rows = await this.o.tenants.withTenant(o.tenantId, (trx) => trx('external_busy').where({ source: SOURCE })
      .where('starts_at', '<', new Date(o.toMs)).where('ends_at', '>', new Date(o.fromMs)).select('event_id', 'starts_at', 'ends_at') as Promise<MirrorRow[]>);
    return rows.map((r) => ({ startMs: r.starts_at.getTime(), endMs: r.ends_at.getTime() }));
  }

  // ---- incremental sync (the calendar-changes job) ----------------------------------------------

  /**
   * Brings the mirror up to date. Reads the connection, lists the changes since its syncToken from Google (no
   * transaction open), then applies them and stores the new token in one transaction, only if no other sync
   * committed meanwhile; when one did, it lists again from the newer token.
   */
  async syncTenant(tenantId: string): Promise<{ outcome: SyncOutcome; changes: number }> {
    const tenant = await this.o.tenants.find(tenantId);
    if (!tenant || tenant.status !== 'active') return { outcome: 'not_connected', changes: 0 };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const c = await this.connections.get(tenantId);
      if (!c || c.status !== 'connected' || !c.calendarId) {
        metrics.googleSync.inc({ outcome: c?.status === 'needs_reconnect' ? 'needs_reconnect' : 'not_connected' });
        return { outcome: c?.status === 'needs_reconnect' ? 'needs_reconnect' : 'not_connected', changes: 0 };
      }
      const refreshToken = await this.refreshTokenOf(c);
      if (!refreshToken) return { outcome: 'not_connected', changes: 0 };
      let listing: { items: calendar_v3.Schema$Event[]; nextSyncToken: string; full: boolean; timeZone: string };
      try {
        listing = await this.list({ refreshToken, calendarId: c.calendarId, syncToken: c.syncToken });
      } catch (e) {
        if (await this.onGrantRefused(c, e)) return { outcome: 'needs_reconnect', changes: 0 };
        metrics.googleSync.inc({ outcome: 'error' });
        throw new ServiceLaneError('ADM_ERR_GOOGLE_UPSTREAM', `google events.list failed (${statusOf(e) ?? 'no answer'})`, { tenantId }, { cause: e });
      }
      const applied = await this.o.tenants.withTenant(tenantId, async (trx) => {
        if (!await this.connections.commitSync(trx, { tenantId, generation: c.syncGeneration, syncToken: listing.nextSyncToken })) return null;
        return this.apply(trx, listing);
      });
      if (applied === null) { metrics.googleSync.inc({ outcome: 'superseded' }); continue; }
      const outcome: SyncOutcome = listing.full && c.syncToken !== null ? 'full_resync' : 'synced';
      metrics.googleSync.inc({ outcome });
      this.o.logger.info({ tenantId, outcome, changes: applied, full: listing.full }, 'google calendar mirror synced');
      return { outcome, changes: applied };
    }
    return { outcome: 'superseded', changes: 0 };
  }

  /**
   * events.list with the stored syncToken, paged to the end; a 410 (the token expired or was invalidated)
   * means the changes cannot be known: list everything instead and replace the mirror.
   */
  private async list(o: { refreshToken: string; calendarId: string; syncToken: string | null }) {
    const { calendar } = await calendarFor(this.o.endpoints, o.refreshToken);
    const pageAll = async (syncToken: string | null) => {
      const items: calendar_v3.Schema$Event[] = [];
      let pageToken: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        // singleEvents: recurring series arrive as their instances, each with its own times.
        const r = await calendar.events.list({
          calendarId: o.calendarId, singleEvents: true, maxResults: 250,
          ...(syncToken ? { syncToken } : {}), ...(pageToken ? { pageToken } : {}),
        }, this.opts());
        items.push(...(r.data.items ?? []));
        pageToken = r.data.nextPageToken ?? undefined;
        if (!pageToken) {
          if (!r.data.nextSyncToken) throw new ServiceLaneError('ADM_ERR_GOOGLE_UPSTREAM', 'google events.list ended without a nextSyncToken');
          return { items, nextSyncToken: r.data.nextSyncToken, timeZone: r.data.timeZone ?? 'UTC' };
        }
      }
      throw new ServiceLaneError('ADM_ERR_GOOGLE_UPSTREAM', `google events.list has more than ${MAX_PAGES} pages`);
    };
    if (o.syncToken) {
      try {
        return { ...await pageAll(o.syncToken), full: false };
      } catch (e) {
        if (statusOf(e) !== 410) throw e;
        metrics.googleSync.inc({ outcome: 'token_gone' });
      }
    }
    return { ...await pageAll(null), full: true };
  }

  /** Writes a listing into external_busy: a full listing replaces the mirror, an incremental one patches it. */
  private async apply(trx: Knex.Transaction, l: { items: calendar_v3.Schema$Event[]; full: boolean; timeZone: string }): Promise<number> {
    if (l.full) await trx('external_busy').where({ source: SOURCE }).del();
    const horizon = this.now() - KEEP_PAST_MS;
    const upserts: { source: string; event_id: string; starts_at: Date; ends_at: Date; updated_at: Date }[] = [];
    const removals: string[] = [];
    for (const ev of l.items) {
      if (!ev.id) continue;
      const span = busySpan(ev, l.timeZone);
      if (span && span.endMs > horizon) upserts.push({ source: SOURCE, event_id: ev.id, starts_at: new Date(span.startMs), ends_at: new Date(span.endMs), updated_at: new Date(this.now()) });
      else removals.push(ev.id);
    }
    if (!l.full && removals.length) await trx('external_busy').where({ source: SOURCE }).whereIn('event_id', removals).del();
    for (let i = 0; i < upserts.length; i += 500) {
      await trx('external_busy').insert(upserts.slice(i, i + 500)).onConflict(['source', 'event_id']).merge(['starts_at', 'ends_at', 'updated_at']);
    }
    return upserts.length + (l.full ? 0 : removals.length);
  }

  // ---- push channels ----------------------------------------------------------------------------

  /**
   * Opens a push channel for the tenant's chosen calendar and stores it (the token as a hash), then stops the
   * channel it replaces. The new channel is stored before the old one is stopped, so no change goes unheard.
   */
  async watch(tenantId: string): Promise<void> {
    const c = await this.connections.get(tenantId);
    if (!c || c.status !== 'connected' || !c.calendarId) return;
    const refreshToken = await this.refreshTokenOf(c);
    if (!refreshToken) return;
    const { calendar } = await calendarFor(this.o.endpoints, refreshToken);
    const id = crypto.randomUUID();
    const token = crypto.randomBytes(32).toString('base64url');
    await this.connections.setPendingChannel(tenantId, { id, token });
    let ch: calendar_v3.Schema$Channel;
    try {
      ch = (await calendar.events.watch({
        calendarId: c.calendarId,
        requestBody: { id, type: 'web_hook', address: this.o.endpoints.pushAddress, token, expiration: String(this.now() + (this.o.channelTtlMs ?? 7 * 24 * 3600_000)) },
      }, this.opts())).data;
    } catch (e) {
      if (await this.onGrantRefused(c, e)) return;
      throw new ServiceLaneError('ADM_ERR_GOOGLE_UPSTREAM', `google events.watch failed (${statusOf(e) ?? 'no answer'})`, { tenantId }, { cause: e });
    }
    const expiresAt = new Date(Number(ch.expiration ?? 0) || this.now() + 3600_000);
    await this.connections.setChannel(tenantId, { id, resourceId: ch.resourceId ?? '', token, expiresAt });
    metrics.googleSync.inc({ outcome: 'channel_opened' });
    if (c.channelId && c.channelResourceId) await this.stopChannel(c, refreshToken, { id: c.channelId, resourceId: c.channelResourceId });
  }

  /** channels.stop; a channel already gone (404) is the goal state. Failures are logged: the channel then just expires. */
  private async stopChannel(c: Connection, refreshToken: string, ch: { id: string; resourceId: string }): Promise<void> {
    try {
      const { calendar } = await calendarFor(this.o.endpoints, refreshToken);
      await calendar.channels.stop({ requestBody: ch }, this.opts());
    } catch (e) {
      if (statusOf(e) === 404) return;
      this.o.logger.warn({ tenantId: c.tenantId, channelId: ch.id, status: statusOf(e) }, 'google channels.stop failed; the channel expires on its own');
    }
  }

  /** Stops the tenant's channel (disconnect, offboarding) while the grant still works. */
  async stopWatching(tenantId: string): Promise<void> {
    const c = await this.connections.get(tenantId);
    if (!c?.channelId || !c.channelResourceId) return;
    const refreshToken = await this.refreshTokenOf(c);
    if (refreshToken) await this.stopChannel(c, refreshToken, { id: c.channelId, resourceId: c.channelResourceId });
    await this.connections.setChannel(tenantId, null);
  }

  /**
   * Renews every channel expiring within renewBeforeMs (or missing), and queues a sync for each: a change
   * made while a channel lapsed would otherwise wait for the next one. One tenant's failure doesn't stop the rest.
   */
  async renewDueChannels(): Promise<number> {
    const due = await this.connections.channelsDue(new Date(this.now() + (this.o.renewBeforeMs ?? 24 * 3600_000)));
    let renewed = 0;
    for (const c of due) {
      try {
        await this.watch(c.tenantId);
        await this.enqueue({ tenantId: c.tenantId, reason: 'renewal' });
        renewed++;
      } catch (e) {
        this.o.logger.warn({ tenantId: c.tenantId, err: (e as Error).message }, 'google channel renewal failed; retried on the next pass');
      }
    }
    return renewed;
  }

  /**
   * Queues a sync. Pushes carry Google's message number, so a redelivered notification is one job; other
   * reasons get a fresh id.
   */
  async enqueue(data: CalendarChangesData, o: { dedupe?: string } = {}): Promise<string> {
    const id = `gcal-${data.tenantId}-${o.dedupe ?? `${data.reason}-${this.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`}`;
    return this.o.jobs.enqueue('calendar-changes', data, { jobId: id.replace(/[^A-Za-z0-9_-]/g, '_'), attempts: 5, backoffMs: 2_000 });
  }

  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  /** Worker role: renews due channels every `intervalMs` (default 15 min), one pass at a time. */
  start(intervalMs = 15 * 60_000): void {
    const pass = () => {
      if (this.running) return;
      this.running = this.renewDueChannels()
        .catch((e: Error) => this.o.logger.warn({ err: e.message }, 'google channel renewal pass failed; retried on the next pass'))
        .finally(() => { this.running = undefined; });
    };
    this.timer = setInterval(pass, intervalMs);
    this.timer.unref();
    pass();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  register(): void {
    this.o.jobs.register<CalendarChangesData>('calendar-changes', (data) => this.syncTenant(data.tenantId), { concurrency: 4 });
  }
}

/**
 * The busy span of a Google event, or null when it should not block a slot: cancelled, transparent ("free"),
 * declined by the calendar's owner, or one of our own mirrored bookings (already an appointment in Postgres).
 * All-day events block their days in the calendar's zone.
 */
export function busySpan(ev: calendar_v3.Schema$Event, calendarZone: string): { startMs: number; endMs: number } | null {
  if (ev.status === 'cancelled' || ev.transparency === 'transparent') return null;
  if (ev.extendedProperties?.private?.[OUR_TAG] === '1') return null;
  if (ev.attendees?.some((a) => a.self && a.responseStatus === 'declined')) return null;
  const at = (d: calendar_v3.Schema$EventDateTime | undefined): number => {
    if (d?.dateTime) return Date.parse(d.dateTime);
    if (d?.date) return DateTime.fromISO(d.date, { zone: d.timeZone ?? calendarZone }).toMillis();
    return Number.NaN;
  };
  const startMs = at(ev.start);
  const endMs = at(ev.end);
  if (Number.isNaN(startMs) || Number.isNaN(endMs) || endMs <= startMs) return null;
  return { startMs, endMs };
}
