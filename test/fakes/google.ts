/**
 * Loopback fake of Google OAuth2 token refresh + Calendar v3 (the subset ServiceLane uses),
 * shaped after what googleapis 178 / google-auth-library 10 / gaxios 7 actually send and parse
 * (reference: protocols.md §5 and §7).
 *
 * Also: the OAuth 2.0 web-server flow (a `consent()` helper that plays the browser at the consent screen and
 * returns the redirect, `authorization_code` exchange with PKCE S256 checks, `/revoke`), `calendarList`,
 * push channels (`events.watch`, `channels/stop`, notifications POSTed to the channel address on every change)
 * and incremental sync (`syncToken`/`nextSyncToken`, 410 `fullSyncRequired` once tokens are invalidated).
 *
 * Wire it up exactly like production, only with two overrides:
 *   new google.auth.OAuth2({ clientId, clientSecret, endpoints: { oauth2TokenUrl: fake.url + '/token' } })
 *   google.calendar({ version: 'v3', auth, rootUrl: fake.url + '/' })
 */
import { createHash, randomBytes } from 'node:crypto';
import type http from 'node:http';
import {
  FaultInjector,
  HttpBodyError,
  applyTransportFault,
  bearerToken,
  bodyForRecord,
  parseFormBody,
  parseJsonBody,
  readBody,
  recordRequest,
  requestUrl,
  sendEmpty,
  sendJson,
  sleep,
  startLoopbackServer,
  type DownMode,
  type FaultAction,
  type FaultMatch,
  type RecordedRequest,
} from './http-util.js';

export const GOOGLE_CALENDAR_SCOPE = 'https://www.googleapis.com/auth/calendar';

export interface GoogleEventDateTime {
  dateTime?: string;
  date?: string;
  timeZone?: string;
}

export interface GoogleEventAttendee {
  email: string;
  displayName?: string;
  responseStatus?: 'needsAction' | 'declined' | 'tentative' | 'accepted';
  optional?: boolean;
  organizer?: boolean;
  self?: boolean;
  comment?: string;
}

/** A Calendar v3 Event resource as the fake returns it on the wire. */
export interface GoogleEvent {
  kind: 'calendar#event';
  etag: string;
  id: string;
  status: 'confirmed' | 'tentative' | 'cancelled';
  htmlLink: string;
  created: string;
  updated: string;
  summary?: string;
  description?: string;
  location?: string;
  colorId?: string;
  creator: { email: string; self?: boolean };
  organizer: { email: string; self?: boolean };
  start: GoogleEventDateTime;
  end: GoogleEventDateTime;
  iCalUID: string;
  sequence: number;
  attendees?: GoogleEventAttendee[];
  extendedProperties?: { private?: Record<string, string>; shared?: Record<string, string> };
  reminders: { useDefault: boolean; overrides?: Array<{ method: string; minutes: number }> };
  transparency?: 'opaque' | 'transparent';
  visibility?: string;
  eventType: string;
  [extra: string]: unknown;
}

export interface FakeGoogleOptions {
  /** Refresh tokens /token accepts. Default `['fake-refresh-token']`. */
  refreshTokens?: string[];
  /** When set, /token checks client_id/client_secret against this map (401 invalid_client otherwise). Default: any client. */
  clients?: Record<string, string>;
  /** `scope` echoed by /token. Default the full calendar scope. */
  scope?: string;
  /** `expires_in` returned by /token and enforced on access tokens. Default 3599. */
  expiresIn?: number;
  /** Email of the account; `primary` is an alias for it. Default `'owner@fake-dealer.test'`. */
  ownerEmail?: string;
  /**
   * Calendars that exist (ids or emails; the owner's is always included). When omitted every calendar id exists,
   * which is convenient; pass a list to test 404s and freeBusy `errors:[{reason:'notFound'}]`.
   */
  calendars?: string[];
  /** Calendar time zone: used for all-day events and events.list's `timeZone`. Default 'UTC'. */
  timeZone?: string;
  /** Clock for created/updated/token expiry. Default Date.now. */
  now?: () => number;
  /** Longest a push channel lives (Google caps events channels at about a week). Default 7 days. */
  channelTtlMs?: number;
}

/** A push channel created by events.watch, as the fake keeps it. */
export interface FakeChannel {
  id: string;
  resourceId: string;
  calendarId: string;
  address: string;
  token?: string;
  expiration: number;
  stopped: boolean;
  messageNumber: number;
}

/** One notification the fake POSTed (or tried to) to a channel address. */
export interface FakePushDelivery {
  channelId: string;
  state: 'sync' | 'exists' | 'not_exists';
  messageNumber: number;
  /** HTTP status of the receiver's answer, or 0 when it could not be reached. */
  status: number;
}

export interface FakeGoogle {
  /** `http://127.0.0.1:<port>` (no trailing slash). Token URL is `url + '/token'`, rootUrl is `url + '/'`. */
  readonly url: string;
  /** Every request received (token and calendar), in arrival order. */
  readonly requests: RecordedRequest[];
  /** Deep copies of all stored events across calendars, cancelled ones included, in insertion order. */
  readonly events: GoogleEvent[];
  /** Deep copies of the events of one calendar (`primary` allowed), cancelled included. */
  eventsIn(calendarId: string): GoogleEvent[];
  /** Stores an event without HTTP (e.g. existing busy time). Same defaults and validation as events.insert; throws on bad input. */
  seedEvent(calendarId: string, event: Partial<GoogleEvent> & { start: GoogleEventDateTime; end: GoogleEventDateTime }): GoogleEvent;
  addCalendar(calendarId: string): void;
  addRefreshToken(token: string): void;
  /** Later refreshes with this token get 400 invalid_grant. */
  revokeRefreshToken(token: string): void;
  /** Mints an access token directly (for tests that bypass OAuth). */
  issueAccessToken(): string;
  /** Every access token minted so far becomes stale: calendar calls with it get 401 until the client refreshes. */
  expireTokens(): void;
  /** Calendar routes only. 'error' → `status` (default 503) with a Google error body; 'timeout' → never answers; 'reset' → socket destroyed. */
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  /** The next `n` calendar calls (optionally matching) answer `status` with a Google error body (or `body`). */
  failNext(n: number, status: number, opts?: { body?: unknown; match?: FaultMatch }): void;
  /** The next `n` calendar calls never get an answer. */
  hangNext(n: number, match?: FaultMatch): void;
  /** Delay before answering every calendar call. */
  setLatency(ms: number): void;
  /** Fault plan for calendar routes (the methods above delegate to it). */
  readonly faults: FaultInjector;
  /** Separate fault plan for POST /token (a 4xx/5xx here is rendered as an OAuth error body). */
  readonly tokenFaults: FaultInjector;
  clearRequests(): void;
  /**
   * Plays the user at Google's consent screen: checks the consent URL as Google would (client, redirect_uri,
   * response_type, PKCE challenge), mints a one-time authorization code bound to them, and returns the URL
   * Google would redirect the browser to (`redirect_uri?state=…&code=…&scope=…`). `deny` → `error=access_denied`.
   */
  consent(authUrl: string, o?: { deny?: boolean; grantedScopes?: string[] }): string;
  /** Refresh tokens issued by the code exchange or added, still live (not revoked). */
  readonly liveRefreshTokens: string[];
  /** Push channels created by events.watch, stopped and expired ones included. */
  readonly channels: FakeChannel[];
  /** Every notification sent to a channel address. */
  readonly pushes: FakePushDelivery[];
  /** Notifications go to this origin instead of the channel address's own (tests: the app on loopback). */
  setPushTarget(baseUrl: string | undefined): void;
  /** Resolves once every notification sent so far has been answered (or failed). */
  pushesSettled(): Promise<void>;
  /** Staff edit an event in Google's UI: patch semantics, push notifications follow. */
  updateEvent(calendarId: string, eventId: string, patch: Partial<GoogleEvent>): GoogleEvent;
  /** Staff delete an event in Google's UI (it becomes `cancelled`), push notifications follow. */
  deleteEvent(calendarId: string, eventId: string): void;
  /** Every sync token issued so far becomes invalid: the next incremental list answers 410 fullSyncRequired. */
  invalidateSyncTokens(): void;
  close(): Promise<void>;
}

// --------------------------------------------------------------------------------------------
// Google error bodies
// --------------------------------------------------------------------------------------------

function googleError(
  code: number,
  message: string,
  reason: string,
  extra: { domain?: string; location?: string; locationType?: string; status?: string } = {},
): unknown {
  const item: Record<string, string> = { domain: extra.domain ?? 'global', reason, message };
  if (extra.location) item.location = extra.location;
  if (extra.locationType) item.locationType = extra.locationType;
  const err: Record<string, unknown> = { errors: [item], code, message };
  if (extra.status) err.status = extra.status;
  return { error: err };
}

/** What Google answers for a bare status (used by fault injection). */
function defaultGoogleErrorFor(status: number): unknown {
  switch (status) {
    case 400:
      return googleError(400, 'Bad Request', 'badRequest');
    case 401:
      return unauthorizedBody();
    case 403:
      return googleError(403, 'Rate Limit Exceeded', 'rateLimitExceeded', { domain: 'usageLimits' });
    case 404:
      return googleError(404, 'Not Found', 'notFound');
    case 409:
      return googleError(409, 'The requested identifier already exists.', 'duplicate');
    case 410:
      return googleError(410, 'Resource has been deleted', 'deleted');
    case 412:
      return googleError(412, 'Precondition Failed', 'conditionNotMet', { location: 'If-Match', locationType: 'header' });
    case 429:
      return googleError(429, 'Rate Limit Exceeded', 'rateLimitExceeded', { domain: 'usageLimits' });
    case 503:
      return googleError(503, 'The service is currently unavailable.', 'backendError');
    default:
      return googleError(status, status >= 500 ? 'Backend Error' : 'Error', status >= 500 ? 'backendError' : 'badRequest');
  }
}

function unauthorizedBody(missing = false): unknown {
  return {
    error: {
      code: 401,
      message: missing
        ? 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'
        : 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      errors: [
        {
          message: missing ? 'Login Required.' : 'Invalid Credentials',
          domain: 'global',
          reason: missing ? 'required' : 'authError',
          location: 'Authorization',
          locationType: 'header',
        },
      ],
      status: 'UNAUTHENTICATED',
    },
  };
}

class GoogleApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`google ${status}`);
  }
}

function fail(code: number, message: string, reason: string): never {
  throw new GoogleApiError(code, googleError(code, message, reason));
}

// --------------------------------------------------------------------------------------------
// Time handling (RFC 3339 in and out, with IANA zones via Intl)
// --------------------------------------------------------------------------------------------

const RFC3339_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;
const LOCAL_DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Offset of `tz` from UTC at instant `ms`, in ms (positive east of Greenwich). */
function zoneOffsetMs(ms: number, tz: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(ms));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? '0');
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

function isValidZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function wallTimeToUtc(y: number, mo: number, d: number, h: number, mi: number, s: number, tz: string): number {
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  // Two passes settle DST edges well enough for a fake.
  const first = guess - zoneOffsetMs(guess, tz);
  return guess - zoneOffsetMs(first, tz);
}

function pad(n: number, w = 2): string {
  return String(Math.abs(n)).padStart(w, '0');
}

/** `2026-03-02T15:00:00Z` for UTC, `2026-03-02T09:00:00-06:00` otherwise (the shapes Google emits). */
function formatInZone(ms: number, tz: string): string {
  if (tz === 'UTC' || tz === 'Etc/UTC') return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  const off = zoneOffsetMs(ms, tz);
  const local = new Date(ms + off);
  const sign = off < 0 ? '-' : '+';
  const offMin = Math.abs(off) / 60000;
  return (
    `${local.getUTCFullYear()}-${pad(local.getUTCMonth() + 1)}-${pad(local.getUTCDate())}` +
    `T${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())}` +
    `${sign}${pad(Math.floor(offMin / 60))}:${pad(offMin % 60)}`
  );
}

/** Parses a query/body RFC 3339 timestamp; Google rejects ones without an offset. */
function parseRfc3339(value: unknown, what: string): number {
  if (typeof value !== 'string' || !RFC3339_WITH_OFFSET.test(value)) fail(400, `Bad Request`, 'badRequest');
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) fail(400, `Invalid value for: ${what}`, 'invalid');
  return ms;
}

/** Instant an event boundary refers to. All-day dates are midnight in the calendar's zone. */
function boundaryMs(dt: GoogleEventDateTime, calendarTz: string, which: 'start' | 'end'): number {
  if (dt.timeZone !== undefined && !isValidZone(dt.timeZone)) fail(400, `Invalid time zone definition for ${which} time.`, 'invalid');
  if (typeof dt.dateTime === 'string') {
    if (RFC3339_WITH_OFFSET.test(dt.dateTime)) {
      const ms = Date.parse(dt.dateTime);
      if (!Number.isNaN(ms)) return ms;
    }
    const m = LOCAL_DATETIME.exec(dt.dateTime);
    if (m) {
      if (!dt.timeZone) fail(400, `Missing time zone definition for ${which} time.`, 'required');
      return wallTimeToUtc(+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? '0'), dt.timeZone);
    }
    fail(400, `Invalid ${which} time.`, 'invalid');
  }
  if (typeof dt.date === 'string') {
    const m = DATE_ONLY.exec(dt.date);
    if (!m) fail(400, `Invalid ${which} time.`, 'invalid');
    return wallTimeToUtc(+m[1]!, +m[2]!, +m[3]!, 0, 0, 0, calendarTz);
  }
  fail(400, `Missing ${which} time.`, 'required');
}

/**
 * Google answers timed boundaries as RFC 3339 with the offset of the event's zone (or the calendar's),
 * whatever form the client sent; connectors that compare strings must not depend on their own format.
 */
function normaliseBoundary(dt: GoogleEventDateTime, ms: number, calendarTz: string): GoogleEventDateTime {
  if (typeof dt.dateTime !== 'string') return { date: dt.date, ...(dt.timeZone ? { timeZone: dt.timeZone } : {}) };
  const out: GoogleEventDateTime = { dateTime: formatInZone(ms, dt.timeZone ?? calendarTz) };
  if (dt.timeZone) out.timeZone = dt.timeZone;
  return out;
}

// --------------------------------------------------------------------------------------------
// Event storage helpers
// --------------------------------------------------------------------------------------------

/** Fields a client may write; Calendar silently ignores everything else (kind, etag, htmlLink, …). */
const WRITABLE = [
  'summary',
  'description',
  'location',
  'colorId',
  'start',
  'end',
  'attendees',
  'extendedProperties',
  'reminders',
  'transparency',
  'visibility',
  'status',
  'source',
  'recurrence',
  'conferenceData',
  'guestsCanInviteOthers',
  'guestsCanModify',
  'guestsCanSeeOtherGuests',
  'anyoneCanAddSelf',
  'attachments',
  'eventType',
] as const;

const EVENT_ID = /^[a-v0-9]{5,1024}$/;
const BASE32HEX = '0123456789abcdefghijklmnopqrstuv';

function generateEventId(): string {
  const bytes = randomBytes(26);
  let s = '';
  for (const b of bytes) s += BASE32HEX[b % 32];
  return s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Patch semantics: objects merge recursively, arrays and scalars replace, null clears. */
function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isPlainObject(v) && isPlainObject(out[k])) out[k] = deepMerge(out[k] as Record<string, unknown>, v);
    else out[k] = structuredClone(v);
  }
  return out;
}

function toDateTime(v: unknown): GoogleEventDateTime | undefined {
  if (!isPlainObject(v)) return undefined;
  const out: GoogleEventDateTime = {};
  if (typeof v.dateTime === 'string') out.dateTime = v.dateTime;
  if (typeof v.date === 'string') out.date = v.date;
  if (typeof v.timeZone === 'string') out.timeZone = v.timeZone;
  return out;
}

interface Stored {
  calendarKey: string;
  event: GoogleEvent;
  /** Change sequence of the last write: incremental sync returns what changed after a token's sequence. */
  seq: number;
}

interface AuthCode {
  clientId: string;
  redirectUri: string;
  challenge?: string;
  challengeMethod?: string;
  scope: string;
  used: boolean;
}

const SYNC_TOKEN_PREFIX = 'fake-sync-';

// --------------------------------------------------------------------------------------------
// The server
// --------------------------------------------------------------------------------------------

export async function startFakeGoogle(opts: FakeGoogleOptions = {}): Promise<FakeGoogle> {
  const now = opts.now ?? Date.now;
  const ownerEmail = opts.ownerEmail ?? 'owner@fake-dealer.test';
  const calendarTz = opts.timeZone ?? 'UTC';
  const scope = opts.scope ?? GOOGLE_CALENDAR_SCOPE;
  const expiresIn = opts.expiresIn ?? 3599;
  const refreshTokens = new Set(opts.refreshTokens ?? ['fake-refresh-token']);
  const knownCalendars = opts.calendars ? new Set(opts.calendars.map((c) => (c === 'primary' ? ownerEmail : c))) : undefined;
  knownCalendars?.add(ownerEmail);
  /** access token → expiry (ms); stale tokens are removed. */
  const accessTokens = new Map<string, number>();
  const stored = new Map<string, Stored>(); // key: calendarKey + '\n' + id
  const requests: RecordedRequest[] = [];
  const faults = new FaultInjector();
  const tokenFaults = new FaultInjector();
  let etagCounter = 0;
  let changeSeq = 0;
  /** Sync tokens at or below this sequence answer 410 (invalidateSyncTokens). */
  let syncTokensValidAfter = -1;
  const authCodes = new Map<string, AuthCode>();
  const channelList: FakeChannel[] = [];
  const pushes: FakePushDelivery[] = [];
  const inflight = new Set<Promise<void>>();
  let pushTarget: string | undefined;
  const channelTtlMs = opts.channelTtlMs ?? 7 * 24 * 3600_000;

  const calendarKey = (id: string): string => (id === 'primary' ? ownerEmail : id);
  const calendarExists = (key: string): boolean => !knownCalendars || knownCalendars.has(key);
  const storeKey = (cal: string, id: string): string => `${cal}\n${id}`;
  const iso = (ms: number): string => new Date(ms).toISOString();
  const nextEtag = (): string => `"${now() * 1000 + (++etagCounter % 1000)}"`;

  function mintToken(): string {
    const token = `ya29.fake-${randomBytes(18).toString('base64url')}`;
    accessTokens.set(token, now() + expiresIn * 1000);
    return token;
  }

  function tokenIsLive(token: string | undefined): boolean {
    if (!token) return false;
    const exp = accessTokens.get(token);
    return exp !== undefined && exp > now();
  }

  /** Validates times and builds/updates the wire Event. `base` present → update in place semantics. */
  function buildEvent(cal: string, input: Record<string, unknown>, base: GoogleEvent | undefined, id: string): GoogleEvent {
    const t = now();
    const start = toDateTime(input.start) ?? base?.start;
    const end = toDateTime(input.end) ?? base?.end;
    if (!start) fail(400, 'Missing start time.', 'required');
    if (!end) fail(400, 'Missing end time.', 'required');
    const startMs = boundaryMs(start, calendarTz, 'start');
    const endMs = boundaryMs(end, calendarTz, 'end');
    if (endMs <= startMs) fail(400, 'The specified time range is empty.', 'timeRangeEmpty');
    const status = input.status ?? base?.status ?? 'confirmed';
    if (status !== 'confirmed' && status !== 'tentative' && status !== 'cancelled') fail(400, 'Invalid value for: status', 'invalid');
    const ext = input.extendedProperties;
    if (ext !== undefined) {
      if (!isPlainObject(ext)) fail(400, 'Invalid value for: extendedProperties', 'invalid');
      for (const scopeName of ['private', 'shared'] as const) {
        const bag = ext[scopeName];
        if (bag === undefined) continue;
        if (!isPlainObject(bag) || Object.values(bag).some((v) => typeof v !== 'string')) {
          fail(400, `Invalid value for: extendedProperties.${scopeName}`, 'invalid');
        }
      }
    }
    let attendees: GoogleEventAttendee[] | undefined;
    if (input.attendees !== undefined) {
      if (!Array.isArray(input.attendees)) fail(400, 'Invalid value for: attendees', 'invalid');
      attendees = input.attendees.map((a: unknown) => {
        if (!isPlainObject(a) || typeof a.email !== 'string' || !a.email.includes('@')) fail(400, 'Invalid attendee email.', 'invalid');
        return { ...(a as unknown as GoogleEventAttendee), responseStatus: (a.responseStatus as GoogleEventAttendee['responseStatus']) ?? 'needsAction' };
      });
    }

    const outStart = normaliseBoundary(start, startMs, calendarTz);
    const outEnd = normaliseBoundary(end, endMs, calendarTz);
    const timesChanged = base !== undefined && (JSON.stringify(outStart) !== JSON.stringify(base.start) || JSON.stringify(outEnd) !== JSON.stringify(base.end));
    const writable: Record<string, unknown> = {};
    for (const k of WRITABLE) if (input[k] !== undefined) writable[k] = structuredClone(input[k]);
    writable.start = outStart;
    writable.end = outEnd;
    writable.status = status;
    if (attendees) writable.attendees = attendees;

    const event: GoogleEvent = {
      kind: 'calendar#event',
      etag: nextEtag(),
      id,
      status: status as GoogleEvent['status'],
      htmlLink: `https://www.google.com/calendar/event?eid=${Buffer.from(`${id} ${cal}`).toString('base64url')}`,
      created: base?.created ?? iso(t),
      updated: iso(t),
      creator: { email: ownerEmail, self: true },
      organizer: { email: cal, ...(cal === ownerEmail ? { self: true } : {}) },
      start: outStart,
      end: outEnd,
      iCalUID: base?.iCalUID ?? `${id}@google.com`,
      sequence: (base?.sequence ?? 0) + (timesChanged ? 1 : 0),
      reminders: { useDefault: true },
      eventType: 'default',
    };
    // Metadata keys first (Google's order), client-writable fields on top. PATCH callers pass an
    // already-merged input, PUT callers a replacement, so nothing is carried over from `base` here.
    Object.assign(event, writable);
    return event;
  }

  function listEvents(cal: string): GoogleEvent[] {
    const out: GoogleEvent[] = [];
    for (const s of stored.values()) if (s.calendarKey === cal) out.push(s.event);
    return out;
  }

  function requireCalendar(calId: string): string {
    const key = calendarKey(calId);
    if (!calendarExists(key)) fail(404, 'Not Found', 'notFound');
    return key;
  }

  function getStored(cal: string, eventId: string): Stored {
    const s = stored.get(storeKey(cal, eventId));
    if (!s) fail(404, 'Not Found', 'notFound');
    return s;
  }

  function checkSendUpdates(url: URL): void {
    const su = url.searchParams.get('sendUpdates');
    if (su !== null && !['all', 'externalOnly', 'none'].includes(su)) fail(400, `Invalid value for: sendUpdates`, 'invalid');
  }

  function insertEvent(calId: string, body: unknown): GoogleEvent {
    const cal = requireCalendar(calId);
    if (!isPlainObject(body)) fail(400, 'Bad Request', 'badRequest');
    let id: string;
    if (body.id !== undefined) {
      if (typeof body.id !== 'string' || !EVENT_ID.test(body.id)) fail(400, 'Invalid resource id value.', 'invalid');
      id = body.id;
      if (stored.has(storeKey(cal, id))) fail(409, 'The requested identifier already exists.', 'duplicate');
    } else {
      id = generateEventId();
    }
    const event = buildEvent(cal, body, undefined, id);
    stored.set(storeKey(cal, id), { calendarKey: cal, event, seq: ++changeSeq });
    notifyChange(cal);
    return event;
  }

  const syncTokenFor = (seq: number): string => `${SYNC_TOKEN_PREFIX}${Buffer.from(String(seq)).toString('base64url')}`;

  /** Google POSTs an empty body with X-Goog-* headers to every live channel on the calendar. */
  function deliver(ch: FakeChannel, state: FakePushDelivery['state']): void {
    const messageNumber = ++ch.messageNumber;
    const address = new URL(ch.address);
    const target = pushTarget ? new URL(address.pathname + address.search, pushTarget) : address;
    const headers: Record<string, string> = {
      'x-goog-channel-id': ch.id,
      'x-goog-channel-expiration': new Date(ch.expiration).toUTCString(),
      'x-goog-resource-id': ch.resourceId,
      'x-goog-resource-uri': `https://www.googleapis.com/calendar/v3/calendars/${encodeURIComponent(ch.calendarId)}/events?alt=json`,
      'x-goog-resource-state': state,
      'x-goog-message-number': String(messageNumber),
    };
    if (ch.token !== undefined) headers['x-goog-channel-token'] = ch.token;
    const record: FakePushDelivery = { channelId: ch.id, state, messageNumber, status: 0 };
    pushes.push(record);
    const p = fetch(target, { method: 'POST', headers })
      .then(async (r) => { record.status = r.status; await r.arrayBuffer(); })
      .catch(() => { record.status = 0; })
      .finally(() => { inflight.delete(p); });
    inflight.add(p);
  }

  function notifyChange(cal: string): void {
    for (const ch of channelList) if (ch.calendarId === cal && !ch.stopped && ch.expiration > now()) deliver(ch, 'exists');
  }

  function watch(calId: string, body: unknown): unknown {
    const cal = requireCalendar(calId);
    if (!isPlainObject(body)) fail(400, 'Bad Request', 'badRequest');
    if (typeof body.id !== 'string' || !/^[A-Za-z0-9\-_+/=]{1,64}$/.test(body.id)) fail(400, 'Invalid channel id.', 'invalid');
    if (body.type !== 'web_hook' && body.type !== 'webhook') fail(400, 'Invalid value for: type', 'invalid');
    if (typeof body.address !== 'string' || !body.address.startsWith('https://')) fail(400, 'WebHook callback must be HTTPS: ' + String(body.address), 'push.webhookUrlNotHttps');
    if (channelList.some((c) => c.id === body.id)) fail(400, `Channel id ${body.id} not unique`, 'channelIdNotUnique');
    if (body.token !== undefined && (typeof body.token !== 'string' || body.token.length > 256)) fail(400, 'Invalid value for: token', 'invalid');
    const requested = body.expiration !== undefined ? Number(body.expiration) : undefined;
    const expiration = Math.min(requested ?? Number.POSITIVE_INFINITY, now() + channelTtlMs);
    const ch: FakeChannel = {
      id: body.id, resourceId: `fake-res-${createHash('sha256').update(cal).digest('hex').slice(0, 20)}`, calendarId: cal,
      address: body.address, ...(typeof body.token === 'string' ? { token: body.token } : {}),
      expiration, stopped: false, messageNumber: 0,
    };
    channelList.push(ch);
    deliver(ch, 'sync');
    return {
      kind: 'api#channel', id: ch.id, resourceId: ch.resourceId,
      resourceUri: `https://www.googleapis.com/calendar/v3/calendars/${encodeURIComponent(cal)}/events?alt=json`,
      ...(ch.token !== undefined ? { token: ch.token } : {}), expiration: String(ch.expiration),
    };
  }

  function stopChannel(body: unknown): void {
    if (!isPlainObject(body) || typeof body.id !== 'string' || typeof body.resourceId !== 'string') fail(400, 'Bad Request', 'badRequest');
    const ch = channelList.find((c) => c.id === body.id && c.resourceId === body.resourceId && !c.stopped);
    if (!ch) fail(404, `Channel '${body.id}' not found for project '0'`, 'notFound');
    ch.stopped = true;
  }

  function calendarList(): unknown {
    const ids = knownCalendars ? [...knownCalendars] : [ownerEmail];
    return {
      kind: 'calendar#calendarList', etag: nextEtag(), nextSyncToken: syncTokenFor(changeSeq),
      items: ids.map((id) => ({
        kind: 'calendar#calendarListEntry', etag: nextEtag(), id, summary: id === ownerEmail ? ownerEmail : `Calendar ${id}`,
        timeZone: calendarTz, colorId: '14', backgroundColor: '#9fe1e7', foregroundColor: '#000000', selected: true,
        accessRole: 'owner', defaultReminders: [], ...(id === ownerEmail ? { primary: true } : {}),
      })),
    };
  }

  function freeBusy(body: unknown): unknown {
    if (!isPlainObject(body)) fail(400, 'Bad Request', 'badRequest');
    if (body.timeMin === undefined) fail(400, 'Missing timeMin parameter.', 'required');
    if (body.timeMax === undefined) fail(400, 'Missing timeMax parameter.', 'required');
    const min = parseRfc3339(body.timeMin, 'timeMin');
    const max = parseRfc3339(body.timeMax, 'timeMax');
    if (max <= min) fail(400, 'The specified time range is empty.', 'timeRangeEmpty');
    const tz = typeof body.timeZone === 'string' && body.timeZone !== '' ? body.timeZone : 'UTC';
    if (!isValidZone(tz)) fail(400, 'Invalid value for: timeZone', 'invalid');
    const items = Array.isArray(body.items) ? body.items : [];
    if (items.length > 50) fail(400, 'Too many calendars requested', 'tooManyCalendarsRequested');
    const calendars: Record<string, unknown> = {};
    for (const item of items) {
      if (!isPlainObject(item) || typeof item.id !== 'string') fail(400, 'Bad Request', 'badRequest');
      const key = calendarKey(item.id);
      if (!calendarExists(key)) {
        calendars[item.id] = { errors: [{ domain: 'global', reason: 'notFound' }], busy: [] };
        continue;
      }
      const spans: Array<[number, number]> = [];
      for (const ev of listEvents(key)) {
        if (ev.status === 'cancelled' || ev.transparency === 'transparent') continue;
        const s = boundaryMs(ev.start, calendarTz, 'start');
        const e = boundaryMs(ev.end, calendarTz, 'end');
        if (e <= min || s >= max) continue;
        spans.push([Math.max(s, min), Math.min(e, max)]);
      }
      spans.sort((a, b) => a[0] - b[0]);
      // Google reports merged, clipped busy blocks rather than one per event.
      const merged: Array<[number, number]> = [];
      for (const sp of spans) {
        const last = merged[merged.length - 1];
        if (last && sp[0] <= last[1]) last[1] = Math.max(last[1], sp[1]);
        else merged.push([sp[0], sp[1]]);
      }
      calendars[item.id] = { busy: merged.map(([s, e]) => ({ start: formatInZone(s, tz), end: formatInZone(e, tz) })) };
    }
    return { kind: 'calendar#freeBusy', timeMin: iso(min), timeMax: iso(max), calendars };
  }

  function list(calId: string, url: URL): unknown {
    const cal = requireCalendar(calId);
    const q = url.searchParams;
    const syncToken = q.get('syncToken');
    let sinceSeq: number | undefined;
    if (syncToken !== null) {
      // Google refuses the filters an incremental list cannot honour consistently.
      for (const p of ['timeMin', 'timeMax', 'updatedMin', 'orderBy', 'q', 'iCalUID', 'privateExtendedProperty', 'sharedExtendedProperty']) {
        if (q.get(p) !== null) fail(400, `The syncToken parameter cannot be combined with ${p}.`, 'invalid');
      }
      const n = syncToken.startsWith(SYNC_TOKEN_PREFIX) ? Number(Buffer.from(syncToken.slice(SYNC_TOKEN_PREFIX.length), 'base64url').toString('utf8')) : NaN;
      if (!Number.isInteger(n) || n < 0) fail(400, 'Invalid sync token value.', 'invalid');
      if (n <= syncTokensValidAfter) {
        throw new GoogleApiError(410, googleError(410, 'Sync token is no longer valid, a full sync is required.', 'fullSyncRequired', { domain: 'calendar' }));
      }
      sinceSeq = n;
    }
    // The sequence a nextSyncToken covers is the one when the listing began (changes after it come next time).
    const listSeq = q.get('pageToken') !== null ? Number(Buffer.from(q.get('pageToken')!, 'base64url').toString('utf8').split(':')[2] ?? changeSeq) : changeSeq;
    const timeMin = q.get('timeMin') !== null ? parseRfc3339(q.get('timeMin'), 'timeMin') : undefined;
    const timeMax = q.get('timeMax') !== null ? parseRfc3339(q.get('timeMax'), 'timeMax') : undefined;
    if (timeMin !== undefined && timeMax !== undefined && timeMax <= timeMin) fail(400, 'The specified time range is empty.', 'timeRangeEmpty');
    const updatedMin = q.get('updatedMin') !== null ? parseRfc3339(q.get('updatedMin'), 'updatedMin') : undefined;
    const showDeleted = q.get('showDeleted') === 'true';
    const singleEvents = q.get('singleEvents') === 'true';
    const orderBy = q.get('orderBy');
    if (orderBy !== null && orderBy !== 'startTime' && orderBy !== 'updated') fail(400, 'Invalid value for: orderBy', 'invalid');
    if (orderBy === 'startTime' && !singleEvents) fail(400, 'The requested ordering is not available for the particular query.', 'badRequest');
    const maxResultsRaw = q.get('maxResults');
    let maxResults = 250;
    if (maxResultsRaw !== null) {
      const n = Number(maxResultsRaw);
      if (!Number.isInteger(n) || n < 1) fail(400, 'Invalid value for: maxResults', 'invalid');
      maxResults = Math.min(n, 2500);
    }
    const text = q.get('q')?.toLowerCase();
    const iCalUID = q.get('iCalUID');
    const propFilters = (name: string): Array<[string, string]> =>
      q.getAll(name).map((p) => {
        const i = p.indexOf('=');
        if (i <= 0) fail(400, `Invalid value for: ${name}`, 'invalid');
        return [p.slice(0, i), p.slice(i + 1)];
      });
    const privFilters = propFilters('privateExtendedProperty');
    const sharedFilters = propFilters('sharedExtendedProperty');

    const seqOf = new Map<GoogleEvent, number>();
    for (const st of stored.values()) if (st.calendarKey === cal) seqOf.set(st.event, st.seq);
    let items = listEvents(cal).filter((ev) => {
      // Incremental lists return every change since the token, deletions (cancelled) included.
      if (sinceSeq !== undefined) return (seqOf.get(ev) ?? 0) > sinceSeq;
      if (!showDeleted && ev.status === 'cancelled') return false;
      const s = boundaryMs(ev.start, calendarTz, 'start');
      const e = boundaryMs(ev.end, calendarTz, 'end');
      if (timeMin !== undefined && e <= timeMin) return false;
      if (timeMax !== undefined && s >= timeMax) return false;
      if (updatedMin !== undefined && Date.parse(ev.updated) < updatedMin) return false;
      if (iCalUID !== null && ev.iCalUID !== iCalUID) return false;
      if (privFilters.some(([k, v]) => ev.extendedProperties?.private?.[k] !== v)) return false;
      if (sharedFilters.some(([k, v]) => ev.extendedProperties?.shared?.[k] !== v)) return false;
      if (text) {
        const hay = [ev.summary, ev.description, ev.location, ...(ev.attendees ?? []).flatMap((a) => [a.email, a.displayName])]
          .filter((x): x is string => typeof x === 'string')
          .join('\n')
          .toLowerCase();
        if (!hay.includes(text)) return false;
      }
      return true;
    });
    if (orderBy === 'updated') items.sort((a, b) => Date.parse(a.updated) - Date.parse(b.updated));
    else if (orderBy === 'startTime') items.sort((a, b) => boundaryMs(a.start, calendarTz, 'start') - boundaryMs(b.start, calendarTz, 'start'));

    let offset = 0;
    const pageToken = q.get('pageToken');
    if (pageToken !== null) {
      const decoded = Number(Buffer.from(pageToken, 'base64url').toString('utf8').replace(/^o:/, '').split(':')[0]);
      if (!Number.isInteger(decoded) || decoded < 0) fail(400, 'Invalid page token value.', 'invalid');
      offset = decoded;
    }
    const total = items.length;
    items = items.slice(offset, offset + maxResults);
    const body: Record<string, unknown> = {
      kind: 'calendar#events',
      etag: nextEtag(),
      summary: cal,
      description: '',
      updated: iso(now()),
      timeZone: calendarTz,
      accessRole: 'owner',
      defaultReminders: [{ method: 'popup', minutes: 30 }],
    };
    if (offset + maxResults < total) body.nextPageToken = Buffer.from(`o:${offset + maxResults}:${listSeq}`).toString('base64url');
    else body.nextSyncToken = syncTokenFor(listSeq);
    body.items = items;
    return body;
  }

  async function handleToken(req: http.IncomingMessage, res: http.ServerResponse, raw: Buffer): Promise<void> {
    const fault = tokenFaults.take(req.method ?? 'POST', '/token');
    if (fault && applyTransportFault(req, fault)) return;
    if (tokenFaults.latency > 0) await sleep(tokenFaults.latency);
    if (fault?.kind === 'status') {
      sendJson(
        res,
        fault.status,
        fault.body ?? (fault.status >= 500 ? { error: 'internal_failure', error_description: 'Backend Error' } : { error: 'invalid_request', error_description: 'Bad Request' }),
        fault.headers,
      );
      return;
    }
    const form = parseFormBody(raw);
    const grantType = form.get('grant_type');
    if (grantType !== 'refresh_token' && grantType !== 'authorization_code') {
      sendJson(res, 400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${grantType ?? ''}` });
      return;
    }
    if (opts.clients) {
      const clientId = form.get('client_id') ?? '';
      const secret = opts.clients[clientId];
      if (secret === undefined) {
        sendJson(res, 401, { error: 'invalid_client', error_description: 'The OAuth client was not found.' });
        return;
      }
      if (secret !== form.get('client_secret')) {
        sendJson(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
        return;
      }
    }
    if (grantType === 'authorization_code') {
      exchangeCode(form, res);
      return;
    }
    const rt = form.get('refresh_token');
    if (!rt) {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' });
      return;
    }
    if (!refreshTokens.has(rt)) {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
      return;
    }
    sendJson(res, 200, { access_token: mintToken(), expires_in: expiresIn, scope, token_type: 'Bearer' });
  }

  /** authorization_code grant: one use per code, same client and redirect_uri as the consent, PKCE S256 checked. */
  function exchangeCode(form: URLSearchParams, res: http.ServerResponse): void {
    const code = form.get('code');
    if (!code) {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'Missing required parameter: code' });
      return;
    }
    const grant = authCodes.get(code);
    if (!grant || grant.used) {
      // Google answers a reused or unknown code the same way.
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'Malformed auth code.' });
      return;
    }
    grant.used = true;
    if (form.get('client_id') !== grant.clientId) {
      sendJson(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
      return;
    }
    if (form.get('redirect_uri') !== grant.redirectUri) {
      sendJson(res, 400, { error: 'redirect_uri_mismatch', error_description: 'Bad Request' });
      return;
    }
    if (grant.challenge !== undefined) {
      const verifier = form.get('code_verifier');
      if (!verifier) {
        sendJson(res, 400, { error: 'invalid_grant', error_description: 'Missing code verifier.' });
        return;
      }
      const computed = grant.challengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (computed !== grant.challenge) {
        sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid code verifier.' });
        return;
      }
    }
    const refreshToken = `1//fake-${randomBytes(24).toString('base64url')}`;
    refreshTokens.add(refreshToken);
    sendJson(res, 200, { access_token: mintToken(), expires_in: expiresIn, refresh_token: refreshToken, scope: grant.scope, token_type: 'Bearer' });
  }

  /** POST /revoke?token=… (or form body): a refresh or access token dies; unknown → 400 invalid_token. */
  function handleRevoke(url: URL, raw: Buffer, res: http.ServerResponse): void {
    const token = url.searchParams.get('token') ?? parseFormBody(raw).get('token');
    if (token && refreshTokens.delete(token)) { sendJson(res, 200, {}); return; }
    if (token && accessTokens.delete(token)) { sendJson(res, 200, {}); return; }
    sendJson(res, 400, { error: 'invalid_token', error_description: 'Token expired or revoked' });
  }

  async function handleCalendar(req: http.IncomingMessage, res: http.ServerResponse, url: URL, raw: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    const fault: FaultAction | undefined = faults.take(method, url.pathname);
    if (fault && applyTransportFault(req, fault)) return;
    if (faults.latency > 0) await sleep(faults.latency);
    if (fault?.kind === 'status') {
      sendJson(res, fault.status, fault.body ?? defaultGoogleErrorFor(fault.status), fault.headers);
      return;
    }
    const token = bearerToken(req);
    if (!tokenIsLive(token)) {
      sendJson(res, 401, unauthorizedBody(token === undefined), { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' });
      return;
    }
    const segs = url.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    // segs[0..1] = calendar, v3
    const rest = segs.slice(2);
    const body = (): unknown => parseJsonBody(raw);

    if (rest.join('/') === 'users/me/calendarList' && method === 'GET') {
      sendJson(res, 200, calendarList());
      return;
    }
    if (rest.join('/') === 'channels/stop' && method === 'POST') {
      stopChannel(body());
      sendEmpty(res, 204);
      return;
    }
    if (rest[0] === 'calendars' && rest[1] !== undefined && rest[2] === 'events' && rest[3] === 'watch' && rest.length === 4 && method === 'POST') {
      sendJson(res, 200, watch(rest[1], body()));
      return;
    }
    if (rest.length === 1 && rest[0] === 'freeBusy' && method === 'POST') {
      sendJson(res, 200, freeBusy(body()));
      return;
    }
    if (rest[0] === 'calendars' && rest[1] !== undefined) {
      const calId = rest[1];
      if (rest.length === 2 && method === 'GET') {
        const key = requireCalendar(calId);
        sendJson(res, 200, {
          kind: 'calendar#calendar',
          etag: nextEtag(),
          id: key,
          summary: key,
          timeZone: calendarTz,
          conferenceProperties: { allowedConferenceSolutionTypes: ['hangoutsMeet'] },
        });
        return;
      }
      if (rest[2] === 'events' && rest.length === 3) {
        if (method === 'GET') {
          sendJson(res, 200, list(calId, url));
          return;
        }
        if (method === 'POST') {
          checkSendUpdates(url);
          sendJson(res, 200, insertEvent(calId, body()));
          return;
        }
      }
      if (rest[2] === 'events' && rest.length === 4 && rest[3] !== undefined) {
        const eventId = rest[3];
        const cal = requireCalendar(calId);
        if (method === 'GET') {
          sendJson(res, 200, getStored(cal, eventId).event);
          return;
        }
        if (method === 'PATCH' || method === 'PUT') {
          checkSendUpdates(url);
          const s = getStored(cal, eventId);
          const input = body();
          if (!isPlainObject(input)) fail(400, 'Bad Request', 'badRequest');
          const merged = method === 'PATCH' ? deepMerge(s.event, input) : input;
          if (method === 'PUT' && (input.start === undefined || input.end === undefined)) fail(400, `Missing ${input.start === undefined ? 'start' : 'end'} time.`, 'required');
          // PUT replaces: start from nothing but the identity/metadata of the stored event.
          s.event = buildEvent(cal, merged, method === 'PATCH' ? s.event : { ...pickIdentity(s.event) }, eventId);
          s.seq = ++changeSeq;
          notifyChange(cal);
          sendJson(res, 200, s.event);
          return;
        }
        if (method === 'DELETE') {
          checkSendUpdates(url);
          const s = getStored(cal, eventId);
          if (s.event.status === 'cancelled') fail(410, 'Resource has been deleted', 'deleted');
          s.event = { ...s.event, status: 'cancelled', updated: iso(now()), etag: nextEtag() };
          s.seq = ++changeSeq;
          notifyChange(cal);
          sendEmpty(res, 204);
          return;
        }
      }
    }
    fail(404, 'Not Found', 'notFound');
  }

  function pickIdentity(ev: GoogleEvent): GoogleEvent {
    return {
      kind: ev.kind,
      etag: ev.etag,
      id: ev.id,
      status: ev.status,
      htmlLink: ev.htmlLink,
      created: ev.created,
      updated: ev.updated,
      creator: ev.creator,
      organizer: ev.organizer,
      start: ev.start,
      end: ev.end,
      iCalUID: ev.iCalUID,
      sequence: ev.sequence,
      reminders: ev.reminders,
      eventType: ev.eventType,
    };
  }

  const srv = await startLoopbackServer(async (req, res) => {
    const url = requestUrl(req);
    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch (err) {
      if (err instanceof HttpBodyError) {
        sendJson(res, err.status, googleError(err.status, 'Request Entity Too Large', 'badRequest'));
        return;
      }
      throw err;
    }
    requests.push(recordRequest(req, url, raw, bodyForRecord(raw, req.headers['content-type'])));
    try {
      if (url.pathname === '/token' && req.method === 'POST') await handleToken(req, res, raw);
      else if (url.pathname === '/revoke' && req.method === 'POST') handleRevoke(url, raw, res);
      else if (url.pathname.startsWith('/calendar/v3/')) await handleCalendar(req, res, url, raw);
      else sendJson(res, 404, googleError(404, 'Not Found', 'notFound'));
    } catch (err) {
      if (err instanceof GoogleApiError) sendJson(res, err.status, err.body);
      else if (err instanceof HttpBodyError) sendJson(res, 400, googleError(400, 'Parse Error', 'parseError'));
      else throw err;
    }
  });

  const clone = (e: GoogleEvent): GoogleEvent => structuredClone(e);

  return {
    url: srv.url,
    requests,
    get events() {
      return [...stored.values()].map((s) => clone(s.event));
    },
    eventsIn(calendarId) {
      return listEvents(calendarKey(calendarId)).map(clone);
    },
    seedEvent(calendarId, event) {
      try {
        const key = calendarKey(calendarId);
        knownCalendars?.add(key);
        return clone(insertEvent(calendarId, event));
      } catch (err) {
        if (err instanceof GoogleApiError) throw new Error(`seedEvent rejected: ${JSON.stringify(err.body)}`);
        throw err;
      }
    },
    addCalendar(calendarId) {
      knownCalendars?.add(calendarKey(calendarId));
    },
    addRefreshToken(token) {
      refreshTokens.add(token);
    },
    revokeRefreshToken(token) {
      refreshTokens.delete(token);
    },
    issueAccessToken: mintToken,
    expireTokens() {
      accessTokens.clear();
    },
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    failNext: (n, status, o) => faults.failNext(n, status, o),
    hangNext: (n, match) => faults.hangNext(n, match),
    setLatency: (ms) => faults.setLatency(ms),
    faults,
    tokenFaults,
    clearRequests() {
      requests.length = 0;
    },
    consent(authUrl, o = {}) {
      const u = new URL(authUrl);
      const q = u.searchParams;
      const clientId = q.get('client_id');
      const redirectUri = q.get('redirect_uri');
      if (!clientId || (opts.clients && opts.clients[clientId] === undefined)) throw new Error('consent: Error 401: invalid_client');
      if (!redirectUri) throw new Error('consent: Error 400: redirect_uri missing');
      if (q.get('response_type') !== 'code') throw new Error('consent: Error 400: unsupported response_type');
      const challenge = q.get('code_challenge') ?? undefined;
      const method = q.get('code_challenge_method') ?? (challenge ? 'plain' : undefined);
      if (method !== undefined && method !== 'S256' && method !== 'plain') throw new Error('consent: Error 400: invalid code_challenge_method');
      const back = new URL(redirectUri);
      const state = q.get('state');
      if (state !== null) back.searchParams.set('state', state);
      if (o.deny) {
        back.searchParams.set('error', 'access_denied');
        return back.toString();
      }
      const requestedScope = (q.get('scope') ?? '').split(' ').filter(Boolean);
      const granted = (o.grantedScopes ?? requestedScope).join(' ');
      const code = `4/fake-${randomBytes(24).toString('base64url')}`;
      authCodes.set(code, { clientId, redirectUri, ...(challenge ? { challenge } : {}), ...(method ? { challengeMethod: method } : {}), scope: granted, used: false });
      back.searchParams.set('code', code);
      back.searchParams.set('scope', granted);
      return back.toString();
    },
    get liveRefreshTokens() {
      return [...refreshTokens];
    },
    get channels() {
      return channelList.map((c) => ({ ...c }));
    },
    get pushes() {
      return pushes.map((p) => ({ ...p }));
    },
    setPushTarget(baseUrl) {
      pushTarget = baseUrl;
    },
    async pushesSettled() {
      while (inflight.size > 0) await Promise.all([...inflight]);
    },
    updateEvent(calendarId, eventId, patch) {
      const cal = calendarKey(calendarId);
      const st = stored.get(storeKey(cal, eventId));
      if (!st) throw new Error(`updateEvent: no event ${eventId} in ${calendarId}`);
      st.event = buildEvent(cal, deepMerge(st.event, patch as Record<string, unknown>), st.event, eventId);
      st.seq = ++changeSeq;
      notifyChange(cal);
      return clone(st.event);
    },
    deleteEvent(calendarId, eventId) {
      const cal = calendarKey(calendarId);
      const st = stored.get(storeKey(cal, eventId));
      if (!st) throw new Error(`deleteEvent: no event ${eventId} in ${calendarId}`);
      st.event = { ...st.event, status: 'cancelled', updated: iso(now()), etag: nextEtag() };
      st.seq = ++changeSeq;
      notifyChange(cal);
    },
    invalidateSyncTokens() {
      syncTokensValidAfter = changeSeq;
    },
    close: async () => {
      await Promise.all([...inflight]);
      await srv.close();
    },
  };
}
