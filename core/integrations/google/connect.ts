import { ServiceLaneError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { PluginRegistry } from '../../registry/registry.js';
import type { DealershipConfig, PluginSlot } from '../../tenancy/config.js';
import type { TenantService } from '../../tenancy/tenants.js';
import { calendarFor, GOOGLE_SCOPES, isInvalidGrant, oauthClient, oauthErrorOf, statusOf, type GoogleEndpoints } from './google-api.js';
import { CREDENTIAL_NAME, type Connection } from './connections.js';
import { OAuthStates } from './oauth-state.js';
import { SOURCE, type GoogleSync } from './sync.js';

/**
 * "Connect Google Calendar" for one dealership (docs/google.md): the OAuth 2.0 authorization-code flow with
 * PKCE and a signed, single-use, expiring state (oauth-state.ts), the refresh token stored as the tenant's
 * encrypted credential, picking the calendar (which points the calendar slot at calendar-google and opens the
 * push channel), and disconnecting (revoke, stop the channel, delete the credential, slot back to built-in).
 * Nothing is stored until Google has answered the code exchange with a refresh token and the calendar scope.
 */

export interface GoogleConnectOptions {
  tenants: TenantService;
  registry: PluginRegistry;
  sync: GoogleSync;
  states: OAuthStates;
  endpoints: GoogleEndpoints;
  logger: Logger;
}

export interface CalendarChoice { id: string; summary: string; primary: boolean; accessRole: string; timeZone: string | null }

/** What the admin API shows about a tenant's connection; `needs_reconnect` means Google refused the grant. */
export interface ConnectionView {
  status: 'not_connected' | 'connected' | 'needs_reconnect';
  calendarId: string | null;
  connectedBy: string | null;
  connectedAt: string | null;
  lastError: string | null;
  lastSyncedAt: string | null;
  channelExpiresAt: string | null;
}

const WRITABLE_ROLES = new Set(['owner', 'writer']);
const BUILTIN_CALENDAR = 'calendar-builtin';

export class GoogleConnect {
  constructor(private readonly o: GoogleConnectOptions) {}

  private requireClient(): { clientId: string; clientSecret: string } {
    const { clientId, clientSecret } = this.o.endpoints;
    if (!clientId || !clientSecret) throw new ServiceLaneError('ADM_ERR_OAUTH_NOT_CONFIGURED', 'GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set');
    return { clientId, clientSecret };
  }

  /** Step 1: the consent URL for this tenant and admin (offline access, consent prompt, calendar scopes, PKCE S256). */
  async authorize(o: { tenantId: string; actor: string }): Promise<{ url: string; expiresInSec: number }> {
    this.requireClient();
    await this.o.tenants.getActive(o.tenantId);
    const oauth = await oauthClient(this.o.endpoints);
    const { codeVerifier, codeChallenge } = await oauth.generateCodeVerifierAsync();
    const state = await this.o.states.create({ tenantId: o.tenantId, actor: o.actor, codeVerifier });
    const url = oauth.generateAuthUrl({
      access_type: 'offline', prompt: 'consent', scope: [...GOOGLE_SCOPES], state,
      code_challenge_method: 'S256' as never, code_challenge: codeChallenge,
    });
    return { url, expiresInSec: 600 };
  }

  /**
   * Step 2: Google sent the browser back. The state is consumed first (forged, replayed, expired or foreign →
   * ADM_ERR_OAUTH_STATE, nothing stored); then the code is exchanged with the PKCE verifier; only a complete
   * answer (refresh token, calendar scope granted) is stored.
   */
  async complete(q: { state: unknown; code?: unknown; error?: unknown; expectTenantId?: string; expectActor?: string }): Promise<{ tenantId: string; actor: string }> {
    const pending = await this.o.states.consume(q.state, { tenantId: q.expectTenantId, actor: q.expectActor });
    if (!pending) throw new ServiceLaneError('ADM_ERR_OAUTH_STATE', 'the OAuth state is invalid, expired, already used or not for this tenant');
    if (typeof q.error === 'string' || typeof q.code !== 'string' || q.code.length === 0 || q.code.length > 2048) {
      throw new ServiceLaneError('ADM_ERR_OAUTH_DENIED', 'Google did not grant access', { error: typeof q.error === 'string' ? q.error.slice(0, 100) : 'missing code' });
    }
    const client = this.requireClient();
    const tenant = await this.o.tenants.getActive(pending.tenantId);
    const oauth = await oauthClient(this.o.endpoints);
    let tokens: { refresh_token?: string | null; scope?: string | null };
    try {
      tokens = (await oauth.getToken({ code: q.code, codeVerifier: pending.codeVerifier })).tokens;
    } catch (e) {
      throw new ServiceLaneError('ADM_ERR_OAUTH_EXCHANGE', `Google refused the authorization code (${oauthErrorOf(e) ?? statusOf(e) ?? 'no answer'})`, { error: oauthErrorOf(e) ?? null }, { cause: e });
    }
    const granted = (tokens.scope ?? '').split(' ');
    // Users can untick scopes on the consent screen; without event access nothing would work.
    if (!granted.includes(GOOGLE_SCOPES[0])) {
      throw new ServiceLaneError('ADM_ERR_OAUTH_EXCHANGE', 'Google did not grant calendar event access', { grantedScope: tokens.scope ?? '' });
    }
    if (!tokens.refresh_token) throw new ServiceLaneError('ADM_ERR_OAUTH_EXCHANGE', 'Google answered without a refresh token (offline access not granted)');
    await this.o.tenants.putCredential(tenant.id, CREDENTIAL_NAME, { ...client, refreshToken: tokens.refresh_token });
    await this.o.sync.connections.upsertConnected({ tenantId: tenant.id, actor: pending.actor, grantedScope: tokens.scope ?? '' });
    this.o.logger.info({ tenantId: tenant.id, actor: pending.actor }, 'google calendar connected');
    return { tenantId: tenant.id, actor: pending.actor };
  }

  private async connected(tenantId: string): Promise<{ c: Connection; refreshToken: string }> {
    const c = await this.o.sync.connections.get(tenantId);
    if (!c) throw new ServiceLaneError('ADM_ERR_GOOGLE_NOT_CONNECTED', 'Google Calendar is not connected for this tenant');
    if (c.status === 'needs_reconnect') throw new ServiceLaneError('ADM_ERR_GOOGLE_NEEDS_RECONNECT', 'Google refused the stored grant; connect Google Calendar again');
    const cred = await this.o.tenants.getCredential(tenantId, c.credentialName) as { refreshToken?: unknown } | undefined;
    if (typeof cred?.refreshToken !== 'string') throw new ServiceLaneError('ADM_ERR_GOOGLE_NOT_CONNECTED', 'the Google credential is missing; connect Google Calendar again');
    return { c, refreshToken: cred.refreshToken };
  }

  /** Google said invalid_grant: record it (status needs_reconnect) and answer with the code that says so. */
  private async googleFailed(c: Connection, e: unknown, op: string): Promise<ServiceLaneError> {
    if (isInvalidGrant(e)) {
      await this.o.sync.connections.markNeedsReconnect(c.tenantId, 'invalid_grant: Google refused the stored grant');
      return new ServiceLaneError('ADM_ERR_GOOGLE_NEEDS_RECONNECT', 'Google refused the stored grant; connect Google Calendar again');
    }
    return new ServiceLaneError('ADM_ERR_GOOGLE_UPSTREAM', `google ${op} failed (${statusOf(e) ?? 'no answer'})`, undefined, { cause: e });
  }

  /** The calendars the connected account can see (for the admin to pick one). */
  async listCalendars(tenantId: string): Promise<CalendarChoice[]> {
    const { c, refreshToken } = await this.connected(tenantId);
    const { calendar } = await calendarFor(this.o.endpoints, refreshToken);
    try {
      const r = await calendar.calendarList.list({ maxResults: 250 }, { retry: false, timeout: 10_000 });
      return (r.data.items ?? []).filter((i) => typeof i.id === 'string').map((i) => ({
        id: i.id!, summary: i.summary ?? i.id!, primary: i.primary === true, accessRole: i.accessRole ?? 'reader', timeZone: i.timeZone ?? null,
      }));
    } catch (e) {
      throw await this.googleFailed(c, e, 'calendarList.list');
    }
  }

  /**
   * Chooses the shop's calendar: it must be one the account can write to. Points the tenant's calendar slot at
   * calendar-google with the stored credential (keeping the slot's fallback), opens the push channel and queues
   * the first full sync. The config goes through the same validation as PUT /config.
   */
  async chooseCalendar(o: { tenantId: string; calendarId: string }): Promise<{ calendarId: string }> {
    const calendars = await this.listCalendars(o.tenantId);
    const chosen = calendars.find((c) => c.id === o.calendarId);
    if (!chosen || !WRITABLE_ROLES.has(chosen.accessRole)) {
      throw new ServiceLaneError('ADM_ERR_GOOGLE_CALENDAR', 'the connected Google account cannot write to that calendar', { calendarId: o.calendarId });
    }
    const tenant = await this.o.tenants.getActive(o.tenantId);
    if (!tenant.config) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; fix it before choosing a calendar', tenant.configErrors);
    const current = tenant.config.plugins.calendar;
    const slot: PluginSlot = {
      plugin: 'calendar-google', credentialsRef: CREDENTIAL_NAME,
      settings: { ...(current.plugin === 'calendar-google' ? current.settings ?? {} : {}), calendarId: chosen.id },
      // The built-in calendar keeps bookings working (held) when Google is unreachable or the grant dies.
      fallback: current.fallback ?? BUILTIN_CALENDAR,
    };
    await this.setCalendarSlot(tenant.id, tenant.config, slot);
    await this.o.sync.connections.setCalendar(tenant.id, chosen.id);
    await this.o.sync.watch(tenant.id);
    await this.o.sync.enqueue({ tenantId: tenant.id, reason: 'connect' });
    return { calendarId: chosen.id };
  }

  private async setCalendarSlot(tenantId: string, config: DealershipConfig, slot: PluginSlot): Promise<void> {
    const next: DealershipConfig = { ...config, plugins: { ...config.plugins, calendar: slot } };
    const issues = this.o.registry.validateConfig(next);
    if (issues.length) throw new ServiceLaneError('PLG_ERR_CONFIG_INVALID', 'the calendar slot could not be set', { errors: issues });
    await this.o.tenants.updateConfig(tenantId, next);
  }

  /**
   * Disconnects: stops the push channel and revokes the grant at Google (best effort: a grant Google already
   * refuses is as good as revoked), then deletes the credential, the connection and the mirror, and points a
   * calendar slot that used the grant back at the built-in calendar. Local state is cleared even when Google
   * cannot be reached; `revoked` says whether Google confirmed.
   */
  async disconnect(tenantId: string): Promise<{ revoked: boolean }> {
    const tenant = await this.o.tenants.get(tenantId);
    const c = await this.o.sync.connections.get(tenant.id);
    if (!c) throw new ServiceLaneError('ADM_ERR_GOOGLE_NOT_CONNECTED', 'Google Calendar is not connected for this tenant');
    const cred = await this.o.tenants.getCredential(tenant.id, c.credentialName) as { refreshToken?: unknown } | undefined;
    let revoked = false;
    if (typeof cred?.refreshToken === 'string') {
      await this.o.sync.stopWatching(tenant.id);
      try {
        const oauth = await oauthClient(this.o.endpoints);
        await oauth.revokeToken(cred.refreshToken);
        revoked = true;
      } catch (e) {
        // invalid_token: Google no longer knows the grant, which is what revoking wants.
        revoked = oauthErrorOf(e) === 'invalid_token';
        if (!revoked) this.o.logger.warn({ tenantId: tenant.id, status: statusOf(e) }, 'google revoke failed; local grant deleted anyway');
      }
    }
    const slot = tenant.config?.plugins.calendar;
    if (tenant.config && slot?.plugin === 'calendar-google' && slot.credentialsRef === c.credentialName) {
      await this.setCalendarSlot(tenant.id, tenant.config, { plugin: BUILTIN_CALENDAR });
    }
    await this.o.tenants.deleteCredential(tenant.id, c.credentialName);
    await this.o.tenants.withTenant(tenant.id, async (trx) => {
      await trx('external_busy').where({ source: SOURCE }).del();
      await this.o.sync.connections.delete(tenant.id, trx);
    });
    this.o.logger.info({ tenantId: tenant.id, revoked }, 'google calendar disconnected');
    return { revoked };
  }

  async view(tenantId: string): Promise<ConnectionView> {
    const t = await this.o.tenants.get(tenantId);
    const c = await this.o.sync.connections.get(t.id);
    const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
    return {
      status: c?.status ?? 'not_connected', calendarId: c?.calendarId ?? null, connectedBy: c?.connectedBy ?? null,
      connectedAt: iso(c?.connectedAt), lastError: c?.lastError ?? null, lastSyncedAt: iso(c?.lastSyncedAt), channelExpiresAt: iso(c?.channelExpiresAt),
    };
  }
}
