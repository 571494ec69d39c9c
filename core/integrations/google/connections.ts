import crypto from 'node:crypto';
import type { Knex } from 'knex';

/**
 * platform.google_connections (migrations/platform/041): the one owner of that table. One row per tenant that
 * connected Google; the refresh token itself is the tenant's encrypted credential (CREDENTIAL_NAME).
 */
export const TABLE = 'platform.google_connections';
/** The credential the connect flow writes and the calendar slot references. */
export const CREDENTIAL_NAME = 'google-oauth';

export type ConnectionStatus = 'connected' | 'needs_reconnect';

export interface Connection {
  tenantId: string;
  status: ConnectionStatus;
  credentialName: string;
  calendarId: string | null;
  grantedScope: string;
  connectedBy: string;
  connectedAt: Date;
  lastError: string | null;
  channelId: string | null;
  channelResourceId: string | null;
  channelExpiresAt: Date | null;
  syncToken: string | null;
  syncGeneration: number;
  lastSyncedAt: Date | null;
}

interface Row {
  tenant_id: string; status: ConnectionStatus; credential_name: string; calendar_id: string | null; granted_scope: string;
  connected_by: string; connected_at: Date; last_error: string | null; channel_id: string | null; channel_resource_id: string | null;
  channel_token_hash: Buffer | null; pending_channel_id: string | null; pending_channel_token_hash: Buffer | null; channel_expires_at: Date | null; sync_token: string | null; sync_generation: string | number; last_synced_at: Date | null;
}

function toConnection(r: Row): Connection {
  return {
    tenantId: r.tenant_id, status: r.status, credentialName: r.credential_name, calendarId: r.calendar_id, grantedScope: r.granted_scope,
    connectedBy: r.connected_by, connectedAt: r.connected_at, lastError: r.last_error, channelId: r.channel_id,
    channelResourceId: r.channel_resource_id, channelExpiresAt: r.channel_expires_at, syncToken: r.sync_token,
    syncGeneration: Number(r.sync_generation), lastSyncedAt: r.last_synced_at,
  };
}

export const hashChannelToken = (token: string): Buffer => crypto.createHash('sha256').update(token).digest();

export class Connections {
  constructor(private readonly db: Knex) {}

  async get(tenantId: string, db: Knex | Knex.Transaction = this.db): Promise<Connection | null> {
    const r = await db(TABLE).where({ tenant_id: tenantId }).first() as Row | undefined;
    return r ? toConnection(r) : null;
  }

  /** A new grant replaces the old one entirely: sync state and channel start over. */
  async upsertConnected(o: { tenantId: string; actor: string; grantedScope: string }): Promise<void> {
    const row = {
      tenant_id: o.tenantId, status: 'connected', credential_name: CREDENTIAL_NAME, granted_scope: o.grantedScope,
      connected_by: o.actor, connected_at: this.db.fn.now(), last_error: null, sync_token: null, updated_at: this.db.fn.now(),
    };
    await this.db(TABLE).insert(row).onConflict('tenant_id').merge();
  }

  async setCalendar(tenantId: string, calendarId: string): Promise<void> {
    await this.db(TABLE).where({ tenant_id: tenantId }).update({ calendar_id: calendarId, sync_token: null, updated_at: this.db.fn.now() });
  }

  /** Google refused the grant: every Google path stops until an admin reconnects. */
  async markNeedsReconnect(tenantId: string, why: string): Promise<void> {
    await this.db(TABLE).where({ tenant_id: tenantId }).update({ status: 'needs_reconnect', last_error: why.slice(0, 200), updated_at: this.db.fn.now() });
  }

  /** Records a channel about to be opened, so its first (`sync`) notification, sent before events.watch answers, verifies. */
  async setPendingChannel(tenantId: string, ch: { id: string; token: string }): Promise<void> {
    await this.db(TABLE).where({ tenant_id: tenantId }).update({ pending_channel_id: ch.id, pending_channel_token_hash: hashChannelToken(ch.token), updated_at: this.db.fn.now() });
  }

  async setChannel(tenantId: string, ch: { id: string; resourceId: string; token: string; expiresAt: Date } | null): Promise<void> {
    const clearPending = { pending_channel_id: null, pending_channel_token_hash: null, updated_at: this.db.fn.now() };
    await this.db(TABLE).where({ tenant_id: tenantId }).update(ch
      ? { channel_id: ch.id, channel_resource_id: ch.resourceId, channel_token_hash: hashChannelToken(ch.token), channel_expires_at: ch.expiresAt, ...clearPending }
      : { channel_id: null, channel_resource_id: null, channel_token_hash: null, channel_expires_at: null, ...clearPending });
  }

  /**
   * The tenant a push notification belongs to, only when its channel id, resource id and token all match what
   * we registered: the token is compared as a hash in constant time.
   */
  async byChannel(o: { channelId: string; resourceId: string | undefined; token: string | undefined }): Promise<{ connection: Connection; pending: boolean } | null> {
    if (o.token === undefined) return null;
    const given = hashChannelToken(o.token);
    const same = (h: Buffer | null) => h !== null && h.length === given.length && crypto.timingSafeEqual(given, h);
    const r = await this.db(TABLE).where({ channel_id: o.channelId }).first() as Row | undefined;
    if (r) {
      if (o.resourceId === undefined || r.channel_resource_id !== o.resourceId || !same(r.channel_token_hash)) return null;
      return { connection: toConnection(r), pending: false };
    }
    // A channel still being opened: its resource id is not known yet, the token must match all the same.
    const p = await this.db(TABLE).where({ pending_channel_id: o.channelId }).first() as Row | undefined;
    return p && same(p.pending_channel_token_hash) ? { connection: toConnection(p), pending: true } : null;
  }

  /** Connections whose push channel is missing or expires before `before` (renewal candidates). */
  async channelsDue(before: Date): Promise<Connection[]> {
    const rows = await this.db(TABLE).where({ status: 'connected' }).whereNotNull('calendar_id')
      .whereIn('tenant_id', this.db('platform.tenants').where({ status: 'active' }).select('id'))
      .where((q) => q.whereNull('channel_id').orWhere('channel_expires_at', '<', before)).limit(500) as Row[];
    return rows.map(toConnection);
  }

  async delete(tenantId: string, trx: Knex | Knex.Transaction = this.db): Promise<void> {
    await trx(TABLE).where({ tenant_id: tenantId }).del();
  }

  /**
   * Records a finished sync only if no other sync finished since this one read `generation` (compare-and-set):
   * two syncs of one tenant never hold a lock while they wait on Google, so the later writer must not undo the
   * newer token. Returns false when it lost.
   */
  async commitSync(trx: Knex.Transaction, o: { tenantId: string; generation: number; syncToken: string }): Promise<boolean> {
    const n = await trx(TABLE).where({ tenant_id: o.tenantId, sync_generation: o.generation, status: 'connected' })
      .update({ sync_token: o.syncToken, sync_generation: o.generation + 1, last_synced_at: trx.fn.now(), last_error: null, updated_at: trx.fn.now() });
    return n === 1;
  }
}
