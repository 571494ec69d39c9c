import type { calendar_v3 } from 'googleapis/build/src/apis/calendar/index.js';
import type { AppConfig } from '../../config.js';

type CalendarModule = typeof import('googleapis/build/src/apis/calendar/index.js');
let loaded: Promise<CalendarModule> | undefined;
/**
 * Only the Calendar API module, on first use: the googleapis root module loads every Google API (~1.7 s). Core
 * cannot share the calendar-google plugin's loader (plugins import only core/sdk, never the reverse), and the
 * module cache makes the two loads one.
 */
function loadCalendarModule(): Promise<CalendarModule> {
  loaded ??= import('googleapis/build/src/apis/calendar/index.js');
  return loaded;
}

/**
 * The Google endpoints and OAuth client the platform operator configured (README, Environment): the consent
 * page (GOOGLE_AUTH_URL), token and revoke endpoints (GOOGLE_TOKEN_URL, GOOGLE_REVOKE_URL) and the Calendar API
 * root (GOOGLE_API_ROOT_URL). Unset → Google's own. Tests point all four at the loopback fake.
 */
export interface GoogleEndpoints {
  clientId?: string;
  clientSecret?: string;
  authUrl?: string;
  tokenUrl?: string;
  revokeUrl?: string;
  apiRootUrl?: string;
  /** Where Google sends the browser back (`PUBLIC_BASE_URL` + CALLBACK_PATH); registered in the Google Cloud console. */
  redirectUri: string;
  /** Where Google POSTs push notifications (`PUBLIC_BASE_URL` + PUSH_PATH); Google requires https. */
  pushAddress: string;
}

export const CALLBACK_PATH = '/oauth/google/callback';
export const PUSH_PATH = '/google/push';

/**
 * Calendar scopes only (docs/google.md): event read/write for mirroring bookings and reading staff changes,
 * and the calendar list so the admin can pick which calendar is the shop's.
 */
export const GOOGLE_SCOPES = [
  'https://www.googleapis.com/auth/calendar.events',
  'https://www.googleapis.com/auth/calendar.calendarlist.readonly',
] as const;

export function googleEndpoints(cfg: AppConfig): GoogleEndpoints {
  const base = cfg.publicBaseUrl.replace(/\/+$/, '');
  return {
    ...cfg.google,
    redirectUri: `${base}${CALLBACK_PATH}`,
    pushAddress: `${base}${PUSH_PATH}`,
  };
}

export type OAuth2 = InstanceType<CalendarModule['auth']['OAuth2']>;

/**
 * googleapis' own OAuth2 client (google-auth-library), pointed at the configured endpoints. The Calendar module
 * is the one the calendar-google plugin already loads lazily: the googleapis root module costs ~1.7 s to load.
 */
export async function oauthClient(ep: GoogleEndpoints): Promise<OAuth2> {
  const { auth } = await loadCalendarModule();
  return new auth.OAuth2({
    clientId: ep.clientId,
    clientSecret: ep.clientSecret,
    redirectUri: ep.redirectUri,
    endpoints: {
      ...(ep.authUrl ? { oauth2AuthBaseUrl: ep.authUrl } : {}),
      ...(ep.tokenUrl ? { oauth2TokenUrl: ep.tokenUrl } : {}),
      ...(ep.revokeUrl ? { oauth2RevokeUrl: ep.revokeUrl } : {}),
    },
  });
}

/** A Calendar API client acting with one tenant's refresh token. */
export async function calendarFor(ep: GoogleEndpoints, refreshToken: string): Promise<{ oauth: OAuth2; calendar: calendar_v3.Calendar }> {
  const { calendar } = await loadCalendarModule();
  const oauth = await oauthClient(ep);
  oauth.setCredentials({ refresh_token: refreshToken });
  const rootUrl = ep.apiRootUrl;
  const api = calendar({ version: 'v3', auth: oauth, ...(rootUrl ? { rootUrl: rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/` } : {}) });
  return { oauth, calendar: api };
}

interface GaxiosLike { status?: number; response?: { status?: number; data?: unknown } }

export function statusOf(e: unknown): number | undefined {
  const g = e as GaxiosLike | undefined;
  return typeof g?.status === 'number' ? g.status : typeof g?.response?.status === 'number' ? g.response.status : undefined;
}

/**
 * The OAuth error string of a token-endpoint answer (`invalid_grant`, …). Every way a refresh token dies —
 * revoked, unused for 6 months, 7 days in Testing, rotated out past 100 tokens — surfaces as `invalid_grant`.
 */
export function oauthErrorOf(e: unknown): string | undefined {
  const data = (e as GaxiosLike | undefined)?.response?.data as { error?: unknown } | undefined;
  return typeof data?.error === 'string' ? data.error : undefined;
}

export const isInvalidGrant = (e: unknown): boolean => oauthErrorOf(e) === 'invalid_grant';
