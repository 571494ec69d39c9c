/**
 * Proves the data-side fakes (Google Calendar, Twenty CRM, NHTSA vPIC) speak the protocols the
 * plugins will meet in production: Google through the real googleapis SDK, the others through fetch.
 */
import assert from 'node:assert/strict';
import { google } from 'googleapis';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { TWENTY_VEHICLE_OBJECT, startFakeTwenty, type FakeTwenty } from '../fakes/twenty.js';
import { nhtsaExpectedCheckDigit, nhtsaModelYearFromVin, startFakeNhtsa, type FakeNhtsa } from '../fakes/nhtsa.js';

function errStatus(e: unknown): number | undefined {
  if (typeof e === 'object' && e !== null && 'status' in e && typeof e.status === 'number') return e.status;
  return undefined;
}

function errResponseData(e: unknown): unknown {
  if (typeof e === 'object' && e !== null && 'response' in e) {
    const r = e.response;
    if (typeof r === 'object' && r !== null && 'data' in r) return r.data;
  }
  return undefined;
}

// --------------------------------------------------------------------------------------------
// Google
// --------------------------------------------------------------------------------------------

describe('fake Google Calendar (real googleapis SDK)', () => {
  let fake: FakeGoogle;

  function client(opts: { refreshToken?: string; forceRefreshOnFailure?: boolean } = {}) {
    const auth = new google.auth.OAuth2({
      clientId: 'cid',
      clientSecret: 'secret',
      endpoints: { oauth2TokenUrl: `${fake.url}/token` },
      forceRefreshOnFailure: opts.forceRefreshOnFailure,
    });
    auth.setCredentials({ refresh_token: opts.refreshToken ?? 'fake-refresh-token' });
    return { auth, calendar: google.calendar({ version: 'v3', auth, rootUrl: `${fake.url}/` }) };
  }

  beforeEach(async () => {
    fake = await startFakeGoogle({ timeZone: 'America/Chicago', calendars: ['service@dealer.test'] });
  });
  afterEach(async () => {
    await fake.close();
  });

  it('refreshes a token over form POST and runs insert/get/patch/list/delete with real Event shapes', async () => {
    const { calendar, auth } = client();
    const tokens: unknown[] = [];
    auth.on('tokens', (t) => tokens.push(t));

    const ins = await calendar.events.insert({
      calendarId: 'primary',
      sendUpdates: 'all',
      requestBody: {
        id: 'sl0123456789abcdef',
        summary: 'Oil change — Maria',
        description: 'booked by phone',
        start: { dateTime: '2026-03-02T10:00:00', timeZone: 'America/Chicago' },
        end: { dateTime: '2026-03-02T17:00:00Z' },
        attendees: [{ email: 'maria@example.com', displayName: 'Maria' }],
        extendedProperties: { private: { callSid: 'CA123' } },
      },
    });
    assert.equal(ins.status, 200);
    const ev = ins.data;
    assert.equal(ev.kind, 'calendar#event');
    assert.equal(ev.id, 'sl0123456789abcdef');
    assert.equal(ev.status, 'confirmed');
    assert.match(ev.etag ?? '', /^"\d+"$/);
    assert.match(ev.htmlLink ?? '', /^https:\/\/www\.google\.com\/calendar\/event\?eid=/);
    assert.equal(ev.iCalUID, 'sl0123456789abcdef@google.com');
    assert.equal(ev.sequence, 0);
    assert.equal(ev.start?.dateTime, '2026-03-02T10:00:00-06:00');
    assert.equal(ev.start?.timeZone, 'America/Chicago');
    assert.equal(ev.end?.dateTime, '2026-03-02T11:00:00-06:00', 'normalised to the calendar zone');
    assert.equal(ev.attendees?.[0]?.responseStatus, 'needsAction');
    assert.deepEqual(ev.extendedProperties, { private: { callSid: 'CA123' } });
    assert.equal(tokens.length, 1);

    const tokenReq = fake.requests.find((r) => r.path === '/token');
    assert.ok(tokenReq);
    assert.match(String(tokenReq.headers['content-type']), /application\/x-www-form-urlencoded/);
    assert.deepEqual(tokenReq.body, { refresh_token: 'fake-refresh-token', client_id: 'cid', client_secret: 'secret', grant_type: 'refresh_token' });
    const insReq = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/events'));
    assert.equal(insReq?.query.sendUpdates, 'all');
    assert.match(String(insReq?.headers.authorization), /^Bearer ya29\.fake-/);

    const got = await calendar.events.get({ calendarId: 'primary', eventId: ev.id! });
    assert.equal(got.data.summary, 'Oil change — Maria');

    const patched = await calendar.events.patch({
      calendarId: 'primary',
      eventId: ev.id!,
      sendUpdates: 'none',
      requestBody: { summary: 'Brakes — Maria', start: { dateTime: '2026-03-02T09:30:00-06:00' } },
    });
    assert.equal(patched.data.summary, 'Brakes — Maria');
    assert.equal(patched.data.description, 'booked by phone', 'patch keeps untouched fields');
    assert.equal(patched.data.sequence, 1, 'time change bumps sequence');
    assert.notEqual(patched.data.etag, ev.etag);

    const listed = await calendar.events.list({
      calendarId: 'primary',
      timeMin: '2026-03-02T00:00:00Z',
      timeMax: '2026-03-03T00:00:00Z',
      singleEvents: true,
      orderBy: 'startTime',
      privateExtendedProperty: ['callSid=CA123'],
    });
    assert.equal(listed.data.kind, 'calendar#events');
    assert.equal(listed.data.timeZone, 'America/Chicago');
    assert.deepEqual(listed.data.items?.map((i) => i.id), [ev.id]);

    const del = await calendar.events.delete({ calendarId: 'primary', eventId: ev.id! });
    assert.equal(del.status, 204);
    assert.equal(del.data, '');
    assert.equal(fake.events[0]?.status, 'cancelled');
    const afterDelete = await calendar.events.list({ calendarId: 'primary' });
    assert.equal(afterDelete.data.items?.length, 0, 'cancelled events hidden unless showDeleted');
    const gone = await calendar.events.delete({ calendarId: 'primary', eventId: ev.id! }, { retry: false }).catch((e: unknown) => e);
    assert.equal(errStatus(gone), 410);
  });

  it('rejects a duplicate client-supplied id with 409 duplicate, and a non-base32hex id with 400', async () => {
    const { calendar } = client();
    const body = { id: 'abcdef12345', start: { dateTime: '2026-03-02T10:00:00Z' }, end: { dateTime: '2026-03-02T11:00:00Z' } };
    await calendar.events.insert({ calendarId: 'primary', requestBody: body });
    const dup = await calendar.events.insert({ calendarId: 'primary', requestBody: body }).catch((e: unknown) => e);
    assert.equal(errStatus(dup), 409);
    assert.equal((dup as Error).message, 'The requested identifier already exists.');
    assert.deepEqual(errResponseData(dup), {
      error: {
        errors: [{ domain: 'global', reason: 'duplicate', message: 'The requested identifier already exists.' }],
        code: 409,
        message: 'The requested identifier already exists.',
      },
    });
    // ULIDs use w–z and upper case, which Google rejects.
    const badId = await calendar.events.insert({ calendarId: 'primary', requestBody: { ...body, id: '01HZXW9Y' } }).catch((e: unknown) => e);
    assert.equal(errStatus(badId), 400);
    assert.equal((badId as Error).message, 'Invalid resource id value.');
    const noZone = await calendar.events
      .insert({ calendarId: 'primary', requestBody: { start: { dateTime: '2026-03-02T10:00:00' }, end: { dateTime: '2026-03-02T11:00:00Z' } } })
      .catch((e: unknown) => e);
    assert.equal((noZone as Error).message, 'Missing time zone definition for start time.');
  });

  it('computes freeBusy from stored non-cancelled events (merged, clipped, in the requested zone)', async () => {
    const { calendar } = client();
    fake.seedEvent('primary', { start: { dateTime: '2026-03-02T15:00:00Z' }, end: { dateTime: '2026-03-02T16:00:00Z' } });
    fake.seedEvent('primary', { start: { dateTime: '2026-03-02T15:30:00Z' }, end: { dateTime: '2026-03-02T17:00:00Z' } });
    fake.seedEvent('primary', { start: { dateTime: '2026-03-02T20:00:00Z' }, end: { dateTime: '2026-03-02T21:00:00Z' }, transparency: 'transparent' });
    fake.seedEvent('primary', { start: { dateTime: '2026-03-02T22:00:00Z' }, end: { dateTime: '2026-03-03T02:00:00Z' } });
    const cancelled = fake.seedEvent('primary', { start: { dateTime: '2026-03-02T18:00:00Z' }, end: { dateTime: '2026-03-02T19:00:00Z' } });
    await calendar.events.delete({ calendarId: 'primary', eventId: cancelled.id });

    const fb = await calendar.freebusy.query({
      requestBody: {
        timeMin: '2026-03-02T14:00:00Z',
        timeMax: '2026-03-03T00:00:00Z',
        items: [{ id: 'primary' }, { id: 'service@dealer.test' }, { id: 'nobody@dealer.test' }],
      },
    });
    assert.equal(fb.data.kind, 'calendar#freeBusy');
    assert.equal(fb.data.timeMin, '2026-03-02T14:00:00.000Z');
    assert.deepEqual(fb.data.calendars?.primary?.busy, [
      { start: '2026-03-02T15:00:00Z', end: '2026-03-02T17:00:00Z' },
      { start: '2026-03-02T22:00:00Z', end: '2026-03-03T00:00:00Z' },
    ]);
    assert.deepEqual(fb.data.calendars?.['service@dealer.test']?.busy, []);
    assert.deepEqual(fb.data.calendars?.['nobody@dealer.test'], { errors: [{ domain: 'global', reason: 'notFound' }], busy: [] });

    const zoned = await calendar.freebusy.query({
      requestBody: { timeMin: '2026-03-02T14:00:00Z', timeMax: '2026-03-02T18:00:00Z', timeZone: 'America/Chicago', items: [{ id: 'primary' }] },
    });
    assert.deepEqual(zoned.data.calendars?.primary?.busy, [{ start: '2026-03-02T09:00:00-06:00', end: '2026-03-02T11:00:00-06:00' }]);
  });

  it('answers invalid_grant for an unknown refresh token and 401 for stale access tokens', async () => {
    const bad = client({ refreshToken: 'nope' });
    const e = await bad.calendar.freebusy.query({ requestBody: { timeMin: '2026-03-02T00:00:00Z', timeMax: '2026-03-03T00:00:00Z', items: [] } }).catch((x: unknown) => x);
    assert.equal((e as Error).message, 'invalid_grant');
    assert.deepEqual(errResponseData(e), { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });

    const { calendar } = client();
    await calendar.events.list({ calendarId: 'primary' });
    fake.expireTokens();
    const stale = await calendar.events.list({ calendarId: 'primary' }, { retry: false }).catch((x: unknown) => x);
    assert.equal(errStatus(stale), 401, 'expiry_date known → the SDK does not refresh on its own');

    const forced = client({ forceRefreshOnFailure: true });
    await forced.calendar.events.list({ calendarId: 'primary' });
    fake.expireTokens();
    const ok = await forced.calendar.events.list({ calendarId: 'primary' });
    assert.equal(ok.status, 200);
  });

  it('returns Google-style 404 with details in response.data', async () => {
    const { calendar } = client();
    const e = await calendar.events.get({ calendarId: 'primary', eventId: 'doesnotexist' }, { retry: false }).catch((x: unknown) => x);
    assert.equal(errStatus(e), 404);
    assert.equal((e as Error).message, 'Not Found');
    assert.deepEqual(errResponseData(e), { error: { errors: [{ domain: 'global', reason: 'notFound', message: 'Not Found' }], code: 404, message: 'Not Found' } });
    const unknownCal = await calendar.events.list({ calendarId: 'other@dealer.test' }, { retry: false }).catch((x: unknown) => x);
    assert.equal(errStatus(unknownCal), 404);
  });

  it('injects 503s, one-shot failures and hangs on calendar calls only', async () => {
    const { calendar } = client();
    const fbBody = { requestBody: { timeMin: '2026-03-02T00:00:00Z', timeMax: '2026-03-03T00:00:00Z', items: [{ id: 'primary' }] } };
    fake.setDown(true);
    const down = await calendar.freebusy.query(fbBody).catch((x: unknown) => x);
    assert.equal(errStatus(down), 503);
    fake.setDown(false);

    fake.failNext(1, 500);
    const once = await calendar.freebusy.query(fbBody).catch((x: unknown) => x);
    assert.equal(errStatus(once), 500, 'POST is never retried by gaxios');
    assert.equal((await calendar.freebusy.query(fbBody)).status, 200);

    fake.failNext(2, 503, { match: { method: 'GET' } });
    const retried = await calendar.events.list({ calendarId: 'primary' });
    assert.equal(retried.status, 200, 'gaxios retries GET through two 503s');

    fake.setDown(true, 'timeout');
    const started = Date.now();
    const hung = await calendar.freebusy.query(fbBody, { timeout: 150 }).catch((x: unknown) => x);
    assert.ok(hung instanceof Error);
    assert.ok(Date.now() - started < 2000);
    fake.setDown(false);

    const tokenCalls = fake.requests.filter((r) => r.path === '/token').length;
    assert.equal(tokenCalls, 1, 'faults never touched the token endpoint');
  });
});

// --------------------------------------------------------------------------------------------
// Twenty
// --------------------------------------------------------------------------------------------

const KEY = 'twenty-test-key';

interface TwentyResponse {
  status: number;
  body: Record<string, unknown>;
}

async function tw(fake: FakeTwenty, method: string, path: string, body?: unknown, key: string | null = KEY): Promise<TwentyResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${fake.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function data(r: TwentyResponse): Record<string, unknown> {
  return r.body.data as Record<string, unknown>;
}

function list(r: TwentyResponse, plural: string): Array<Record<string, unknown>> {
  return data(r)[plural] as Array<Record<string, unknown>>;
}

const q = (filter: string): string => encodeURIComponent(filter);

describe('fake Twenty CRM REST (fetch)', () => {
  let fake: FakeTwenty;
  beforeEach(async () => {
    fake = await startFakeTwenty({ customObjects: [TWENTY_VEHICLE_OBJECT], expiredApiKeys: ['old-key'], rateLimit: false });
  });
  afterEach(async () => {
    await fake.close();
  });

  it('checks Bearer API keys with the exact error envelopes', async () => {
    assert.deepEqual(await tw(fake, 'GET', '/rest/people', undefined, null), {
      status: 403,
      body: { statusCode: 403, error: 'FORBIDDEN_EXCEPTION', messages: ['Missing authentication token'] },
    });
    assert.deepEqual((await tw(fake, 'GET', '/rest/people', undefined, 'wrong')).body, { statusCode: 401, error: 'UNAUTHENTICATED', messages: ['Token invalid.'] });
    assert.deepEqual((await tw(fake, 'GET', '/rest/people', undefined, 'old-key')).body, { statusCode: 401, error: 'UNAUTHENTICATED', messages: ['Token has expired.'] });
    fake.expireApiKey(KEY);
    assert.deepEqual((await tw(fake, 'GET', '/rest/people')).body.messages, ['Token has expired.']);
    fake.addApiKey(KEY);
    assert.equal((await tw(fake, 'GET', '/rest/people')).status, 200);
  });

  it('creates a person (201, createPerson) storing phones as national number + codes, and finds it by caller ID', async () => {
    const created = await tw(fake, 'POST', '/rest/people?depth=0', {
      name: { firstName: 'Maria', lastName: 'Lopez' },
      phones: { primaryPhoneNumber: '+14086137788' },
      emails: { primaryEmail: 'maria@example.com' },
    });
    assert.equal(created.status, 201);
    const person = data(created).createPerson as Record<string, unknown>;
    assert.match(String(person.id), /^[0-9a-f-]{36}$/);
    assert.deepEqual(person.phones, { primaryPhoneNumber: '4086137788', primaryPhoneCountryCode: 'US', primaryPhoneCallingCode: '+1', additionalPhones: null });
    assert.deepEqual(person.createdBy, { source: 'API', workspaceMemberId: null, name: 'ServiceLane', context: {} });
    assert.equal(person.deletedAt, null);
    assert.equal(person.jobTitle, '');
    assert.equal(person.companyId, null);
    assert.equal('company' in person, false, 'relations only at depth 1');

    fake.seedPerson({ firstName: 'Other', phone: '+33612345678' });
    fake.seed('people', { name: { firstName: 'Legacy', lastName: 'Import' }, phones: { primaryPhoneNumber: '+1 (408) 613-7788' } }, { raw: true });

    const filter = 'or(phones.primaryPhoneNumber[eq]:"4086137788",phones.primaryPhoneNumber[eq]:"+14086137788",phones.primaryPhoneNumber[like]:"%4086137788")';
    const found = await tw(fake, 'GET', `/rest/people?depth=0&limit=5&filter=${q(filter)}`);
    assert.equal(found.status, 200);
    assert.deepEqual(list(found, 'people').map((p) => (p.name as Record<string, unknown>).firstName), ['Maria']);
    assert.equal(found.body.totalCount, 1);
    const pi = found.body.pageInfo as Record<string, unknown>;
    assert.equal(pi.hasNextPage, false);
    assert.equal(typeof pi.startCursor, 'string');
    assert.equal(fake.requests.at(-1)?.query.filter, filter, 'recorded query is decoded');

    const digitsLike = await tw(fake, 'GET', `/rest/people?filter=${q('phones.primaryPhoneNumber[like]:"%613%7788"')}`);
    assert.equal(digitsLike.body.totalCount, 2, 'LIKE also hits the legacy raw format');

    const invalidPhone = await tw(fake, 'POST', '/rest/people', { phones: { primaryPhoneNumber: '4086137788' } });
    assert.deepEqual(invalidPhone.body, { statusCode: 400, error: 'BadRequestException', messages: ['Provided phone number is invalid 4086137788'] });
    const withCountry = await tw(fake, 'POST', '/rest/people', { phones: { primaryPhoneNumber: '4086137788', primaryPhoneCountryCode: 'US' } });
    assert.equal(((data(withCountry).createPerson as Record<string, unknown>).phones as Record<string, unknown>).primaryPhoneCallingCode, '+1');
    const conflict = await tw(fake, 'POST', '/rest/people', { phones: { primaryPhoneNumber: '612345678', primaryPhoneCountryCode: 'US', primaryPhoneCallingCode: '+33' } });
    assert.deepEqual(conflict.body.messages, ['Provided country code and calling code are conflicting']);
  });

  it('implements the filter grammar: and/or/not, comparators, quotes, arrays, is NULL, + as space, errors', async () => {
    const acme = fake.seedCompany({ name: 'Acme Motors' });
    fake.seedPerson({ firstName: 'Maria', lastName: 'Lopez', city: 'Austin', companyId: acme.id });
    fake.seedPerson({ firstName: 'Mario', lastName: 'Lopez', city: 'San Antonio' });
    fake.seedPerson({ firstName: 'Ann', lastName: 'Smith', city: 'Dallas', email: 'ann@example.com' });
    const names = async (filter: string): Promise<string[]> => {
      const r = await tw(fake, 'GET', `/rest/people?filter=${q(filter)}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return list(r, 'people').map((p) => String((p.name as Record<string, unknown>).firstName)).sort();
    };
    assert.deepEqual(await names('name.lastName[eq]:"Lopez"'), ['Maria', 'Mario']);
    assert.deepEqual(await names('name.lastName[eq]:Lopez,city[eq]:Austin'), ['Maria'], 'bare list is and(...)');
    assert.deepEqual(await names('or(city[eq]:"Dallas",name.firstName[eq]:\'Mario\')'), ['Ann', 'Mario']);
    assert.deepEqual(await names('not(name.lastName[eq]:"Lopez")'), ['Ann']);
    assert.deepEqual(await names('and(name.lastName[eq]:"Lopez",not(city[eq]:"Austin"))'), ['Mario']);
    assert.deepEqual(await names('city[in]:["Austin","Dallas"]'), ['Ann', 'Maria']);
    assert.deepEqual(await names('name.firstName[neq]:"Ann"'), ['Maria', 'Mario']);
    assert.deepEqual(await names('name.lastName[ilike]:"%lop%"'), ['Maria', 'Mario']);
    assert.deepEqual(await names('name.lastName[like]:"%lop%"'), [], 'LIKE is case-sensitive');
    assert.deepEqual(await names('companyId[is]:NULL'), ['Ann', 'Mario']);
    assert.deepEqual(await names(`companyId[eq]:"${acme.id}"`), ['Maria']);
    assert.deepEqual(await names('emails.primaryEmail[eq]:ann@example.com'), ['Ann']);
    assert.deepEqual(await names('city[eq]:"San Antonio"'), ['Mario']);

    // An unencoded '+' arrives as a space, exactly like the real server's query parser.
    const plus = await tw(fake, 'GET', '/rest/people?filter=city[eq]:"San+Antonio"');
    assert.equal(plus.body.totalCount, 1);

    const err = async (filter: string): Promise<string> => {
      const r = await tw(fake, 'GET', `/rest/people?filter=${q(filter)}`);
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'BadRequestException');
      return (r.body.messages as string[])[0]!;
    };
    assert.equal(await err('and(city[eq]:"Austin"'), "'filter' invalid. 1 close bracket is missing in the query");
    assert.equal(await err('city:"Austin"'), `'filter' invalid for 'city:"Austin"'. eg: price[gte]:10`);
    assert.match(await err('city[equals]:"Austin"'), /comparator equals not in eq, neq, in, containsAny, is, gt, gte, lt, lte, startsWith, endsWith, like, ilike/);
    assert.equal(await err('nickname[eq]:"x"'), "field 'nickname' does not exist in 'person' object");
    assert.match(await err('city[in]:"Austin"'), /array value expected/);
    assert.match(await err('not(city[eq]:a,city[eq]:b)'), /'not' conjunction should contain only 1 condition/);
    assert.match(await err('company[eq]:"x"'), /does not exist/);
  });

  it('validates paths and ids like parseCorePath', async () => {
    assert.deepEqual((await tw(fake, 'GET', '/rest/person')).body.messages, ["object 'person' not found. Did you mean 'people'?"]);
    assert.deepEqual((await tw(fake, 'GET', '/rest/persons')).body.messages, ["object 'persons' not found. eg: companies"]);
    assert.deepEqual((await tw(fake, 'GET', '/rest/people/abc')).body.messages, ["'abc' is not a valid UUID"]);
    assert.match(((await tw(fake, 'GET', '/rest/people/a/b')).body.messages as string[])[0]!, /^Query path '\/rest\/people\/a\/b' invalid/);
    const nf = await tw(fake, 'GET', '/rest/people/0d940997-c21e-4ec2-873b-de4264d89025');
    assert.deepEqual(nf, { status: 404, body: { statusCode: 404, error: 'NotFoundException', messages: ['Record not found'] } });
  });

  it('pages with limit/cursors, orders with order_by, and validates limit/depth', async () => {
    for (const [i, n] of ['Ed', 'Bo', 'Al', 'Di', 'Cy'].entries()) fake.seedPerson({ firstName: n, extra: { position: i } });
    const page1 = await tw(fake, 'GET', '/rest/people?limit=2&order_by=name.firstName[AscNullsFirst]');
    assert.deepEqual(list(page1, 'people').map((p) => (p.name as Record<string, unknown>).firstName), ['Al', 'Bo']);
    assert.equal(page1.body.totalCount, 5);
    const pi1 = page1.body.pageInfo as Record<string, unknown>;
    assert.equal(pi1.hasNextPage, true);
    assert.equal(pi1.hasPreviousPage, false);
    const page2 = await tw(fake, 'GET', `/rest/people?limit=2&order_by=name.firstName[AscNullsFirst]&starting_after=${encodeURIComponent(String(pi1.endCursor))}`);
    assert.deepEqual(list(page2, 'people').map((p) => (p.name as Record<string, unknown>).firstName), ['Cy', 'Di']);
    assert.equal(page2.body.totalCount, 5, 'totalCount is the same on every page');
    const pi2 = page2.body.pageInfo as Record<string, unknown>;
    const back = await tw(fake, 'GET', `/rest/people?limit=1&order_by=name.firstName&ending_before=${encodeURIComponent(String(pi2.endCursor))}`);
    assert.deepEqual(list(back, 'people').map((p) => (p.name as Record<string, unknown>).firstName), ['Cy']);

    const desc = await tw(fake, 'GET', '/rest/people?order_by=name.firstName[DescNullsLast]&limit=1');
    assert.equal((list(desc, 'people')[0]!.name as Record<string, unknown>).firstName, 'Ed');
    assert.match(((await tw(fake, 'GET', '/rest/people?order_by=name.firstName[Down]')).body.messages as string[])[0]!, /'order_by' direction 'Down' invalid/);
    assert.equal((await tw(fake, 'GET', '/rest/people?order_by=name[AscNullsFirst]')).status, 400, 'ordering by a whole composite');
    assert.deepEqual((await tw(fake, 'GET', '/rest/people?starting_after=garbage')).status, 400);

    for (let i = 0; i < 70; i++) fake.seedPerson({ firstName: `P${i}` });
    assert.equal(list(await tw(fake, 'GET', '/rest/people'), 'people').length, 60, 'default limit');
    assert.equal(list(await tw(fake, 'GET', '/rest/people?limit=500'), 'people').length, 75, 'clamped to 200, 75 exist');
    assert.deepEqual((await tw(fake, 'GET', '/rest/people?limit=x')).body.messages, ["limit 'x' is invalid. Should be an integer"]);
    assert.deepEqual((await tw(fake, 'GET', '/rest/people?depth=2')).body.messages, ["'depth=2' parameter invalid. Allowed values are 0, 1"]);
  });

  it('logs a call as note + noteTarget (target* generation, bodyV2) and expands relations at depth 1', async () => {
    const person = fake.seedPerson({ firstName: 'Maria', phone: '+15551234567' });
    assert.equal((person.phones as Record<string, unknown>).primaryPhoneCountryCode, '', '555 numbers have no region in libphonenumber');
    const noteId = '6f1c2f0e-1b7c-4d0a-9a59-2f1f0e7c9b10';
    const note = await tw(fake, 'POST', '/rest/notes', { id: noteId, title: 'Call 2026-03-02', bodyV2: { markdown: 'Wants an oil change\nFriday' } });
    assert.equal(note.status, 201);
    const created = data(note).createNote as Record<string, unknown>;
    assert.equal(created.id, noteId);
    const body = created.bodyV2 as Record<string, unknown>;
    assert.equal(body.markdown, 'Wants an oil change\nFriday');
    assert.equal(typeof body.blocknote, 'string');
    const retry = await tw(fake, 'POST', '/rest/notes', { id: noteId, title: 'again' });
    assert.deepEqual(retry.body, { statusCode: 400, error: 'BadRequestException', messages: ['Record already exists'] });

    const nt = await tw(fake, 'POST', '/rest/noteTargets', { noteId, targetPersonId: person.id });
    assert.equal(nt.status, 201);
    assert.equal((data(nt).createNoteTarget as Record<string, unknown>).targetPersonId, person.id);
    const legacyKey = await tw(fake, 'POST', '/rest/noteTargets', { noteId, personId: person.id });
    assert.equal(legacyKey.status, 400, 'personId does not exist on a migrated workspace');
    const legacyFilter = await tw(fake, 'GET', `/rest/noteTargets?filter=${q(`personId[eq]:${person.id}`)}`);
    assert.equal(legacyFilter.status, 400);

    const targets = await tw(fake, 'GET', `/rest/noteTargets?depth=1&limit=60&filter=${q(`targetPersonId[eq]:${person.id}`)}`);
    const row = list(targets, 'noteTargets')[0]!;
    assert.equal((row.note as Record<string, unknown>).title, 'Call 2026-03-02');
    assert.equal((row.targetPerson as Record<string, unknown>).id, person.id);

    const p1 = await tw(fake, 'GET', `/rest/people/${person.id}?depth=1`);
    const expanded = data(p1).person as Record<string, unknown>;
    assert.equal((expanded.noteTargets as unknown[]).length, 1);
    assert.equal(expanded.company, null);

    const task = await tw(fake, 'POST', '/rest/tasks', { title: 'Call back', dueAt: '2026-03-03T15:00:00Z', bodyV2: { markdown: 'x' } });
    assert.equal((data(task).createTask as Record<string, unknown>).status, 'TODO');
    const badEnum = await tw(fake, 'POST', '/rest/tasks', { title: 'x', status: 'LATER' });
    assert.equal(badEnum.status, 400);
    assert.match((badEnum.body.messages as string[])[0]!, /invalid input value for enum/);
    const fk = await tw(fake, 'POST', '/rest/noteTargets', { noteId, targetPersonId: '0d940997-c21e-4ec2-873b-de4264d89025' });
    assert.equal(fk.status, 400, 'unknown target id violates the foreign key');
  });

  it('supports the legacy generation (personId, body) selected by switches', async () => {
    await fake.close();
    fake = await startFakeTwenty({ noteTargetStyle: 'legacy', bodyField: 'body', rateLimit: false, metadataFormat: 'direct' });
    const person = fake.seedPerson({ firstName: 'Old' });
    const note = await tw(fake, 'POST', '/rest/notes', { title: 't', body: 'plain text body' });
    assert.equal((data(note).createNote as Record<string, unknown>).body, 'plain text body');
    assert.equal((await tw(fake, 'POST', '/rest/notes', { title: 't', bodyV2: { markdown: 'x' } })).status, 400);
    const noteId = String((data(note).createNote as Record<string, unknown>).id);
    assert.equal((await tw(fake, 'POST', '/rest/noteTargets', { noteId, personId: person.id })).status, 201);
    assert.equal((await tw(fake, 'POST', '/rest/noteTargets', { noteId, targetPersonId: person.id })).status, 400);

    const meta = await tw(fake, 'GET', '/rest/metadata/objects?limit=200');
    const objects = meta.body.data as Array<Record<string, unknown>>;
    assert.ok(Array.isArray(objects), 'direct format: data is the array');
    const noteTarget = objects.find((o) => o.nameSingular === 'noteTarget')!;
    const fieldNames = (noteTarget.fields as Array<Record<string, unknown>>).map((f) => f.name);
    assert.ok(fieldNames.includes('person') && !fieldNames.includes('targetPerson'));
  });

  it('updates, soft-deletes, and exposes deleted rows only to deletedAt filters', async () => {
    const p = fake.seedPerson({ firstName: 'Maria', email: 'maria@example.com', city: 'Austin' });
    const upd = await tw(fake, 'PATCH', `/rest/people/${p.id}`, { city: 'Dallas' });
    assert.equal(upd.status, 200);
    const updated = data(upd).updatePerson as Record<string, unknown>;
    assert.equal(updated.city, 'Dallas');
    assert.deepEqual(updated.emails, { primaryEmail: 'maria@example.com', additionalEmails: null });
    const dupEmail = await tw(fake, 'POST', '/rest/people', { emails: { primaryEmail: 'maria@example.com' } });
    assert.equal(dupEmail.status, 400);

    const del = await tw(fake, 'DELETE', `/rest/people/${p.id}`);
    assert.equal(del.status, 200);
    assert.equal((data(del).deletePerson as Record<string, unknown>).id, p.id);
    assert.equal((await tw(fake, 'GET', `/rest/people/${p.id}`)).status, 404);
    assert.equal((await tw(fake, 'DELETE', `/rest/people/${p.id}`)).status, 404);
    assert.equal((await tw(fake, 'PATCH', `/rest/people/${p.id}`, { city: 'x' })).status, 404);
    assert.equal((await tw(fake, 'GET', '/rest/people')).body.totalCount, 0);
    assert.equal((await tw(fake, 'GET', `/rest/people?filter=${q('deletedAt[is]:NOT_NULL')}`)).body.totalCount, 1);
    assert.deepEqual((await tw(fake, 'DELETE', '/rest/people')).body.messages, ['Filters are mandatory for bulk delete operations']);
    assert.equal(fake.records('people', { includeDeleted: true })[0]?.deletedAt !== null, true);

    const batch = await tw(fake, 'POST', '/rest/batch/companies', [{ name: 'A' }, { name: 'B' }]);
    assert.equal(batch.status, 201);
    assert.deepEqual((data(batch).createCompanies as Array<Record<string, unknown>>).map((c) => c.name), ['A', 'B']);
  });

  it('serves custom objects (vehicles) with ownerId and targetVehicleId', async () => {
    const owner = fake.seedPerson({ firstName: 'Maria' });
    const v = await tw(fake, 'POST', '/rest/vehicles', { name: '2019 Tesla Model 3', vin: '5YJ3E1EA1KF131548', year: 2019, ownerId: owner.id });
    assert.equal(v.status, 201);
    const vehicle = data(v).createVehicle as Record<string, unknown>;
    assert.equal(vehicle.year, 2019);
    const byOwner = await tw(fake, 'GET', `/rest/vehicles?filter=${q(`ownerId[eq]:${owner.id}`)}&depth=1`);
    assert.equal((list(byOwner, 'vehicles')[0]!.owner as Record<string, unknown>).id, owner.id);
    const one = await tw(fake, 'GET', `/rest/vehicles/${String(vehicle.id)}`);
    assert.equal((data(one).vehicle as Record<string, unknown>).vin, '5YJ3E1EA1KF131548');
    const note = fake.seed('notes', { title: 'n' });
    assert.equal((await tw(fake, 'POST', '/rest/noteTargets', { noteId: note.id, targetVehicleId: vehicle.id })).status, 201);
    const gt = await tw(fake, 'GET', `/rest/vehicles?filter=${q('year[gte]:2020')}`);
    assert.equal(gt.body.totalCount, 0);

    const meta = await tw(fake, 'GET', '/rest/metadata/objects');
    const objects = (meta.body.data as Record<string, unknown>).objects as Array<Record<string, unknown>>;
    const veh = objects.find((o) => o.namePlural === 'vehicles')!;
    assert.equal(veh.isCustom, true);
    assert.ok((veh.fields as Array<Record<string, unknown>>).some((f) => f.name === 'vin' && f.type === 'TEXT'));
    assert.equal(typeof meta.body.totalCount, 'number');
  });

  it('rate-limits with a token bucket and injects 500s, 429 storms, latency and timeouts', async () => {
    fake.setRateLimit({ short: { limit: 100, ttlMs: 1000 }, long: { limit: 3, ttlMs: 60000 } });
    for (let i = 0; i < 3; i++) assert.equal((await tw(fake, 'GET', '/rest/people')).status, 200);
    assert.deepEqual(await tw(fake, 'GET', '/rest/people'), {
      status: 429,
      body: { statusCode: 429, error: 'HttpException', messages: ['Limit reached (3 tokens per 60000 ms)'] },
    });
    fake.setRateLimit(false);

    fake.failNext(1, 500);
    assert.deepEqual((await tw(fake, 'GET', '/rest/people')).body, { statusCode: 500, error: 'InternalServerErrorException', messages: ['Internal server error'] });
    fake.failNext(2, 429, { match: { method: 'POST' } });
    assert.equal((await tw(fake, 'GET', '/rest/people')).status, 200, 'matcher limits the storm to POSTs');
    assert.equal((await tw(fake, 'POST', '/rest/companies', { name: 'x' })).status, 429);
    assert.equal((await tw(fake, 'POST', '/rest/companies', { name: 'x' })).status, 429);
    assert.equal((await tw(fake, 'POST', '/rest/companies', { name: 'x' })).status, 201);

    fake.setLatency(120);
    const t0 = Date.now();
    await tw(fake, 'GET', '/rest/people');
    assert.ok(Date.now() - t0 >= 100);
    fake.setLatency(0);

    fake.setDown(true, 'timeout');
    const hung = await fetch(`${fake.url}/rest/people`, { headers: { authorization: `Bearer ${KEY}` }, signal: AbortSignal.timeout(150) }).catch((e: unknown) => e);
    assert.ok(hung instanceof Error);
    fake.setDown(false);
  });
});

// --------------------------------------------------------------------------------------------
// NHTSA
// --------------------------------------------------------------------------------------------

describe('fake NHTSA vPIC (fetch)', () => {
  let fake: FakeNhtsa;
  beforeEach(async () => {
    fake = await startFakeNhtsa();
  });
  afterEach(async () => {
    await fake.close();
  });

  async function decode(vin: string, extra = '&format=json', endpoint = 'DecodeVinValues'): Promise<{ status: number; text: string; json: () => Record<string, unknown> }> {
    const res = await fetch(`${fake.url}/api/vehicles/${endpoint}/${encodeURIComponent(vin)}?${extra.replace(/^&/, '')}`);
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
  }
  const row = (body: Record<string, unknown>): Record<string, string> => (body.Results as Array<Record<string, string>>)[0]!;

  it('implements the §2.7 check-digit and model-year rules', () => {
    assert.equal(nhtsaExpectedCheckDigit('1HGCM82633A004352'), '3');
    assert.equal(nhtsaExpectedCheckDigit('3VV3B7AXXNM077525'), 'X');
    assert.equal(nhtsaExpectedCheckDigit('11111111111111111'), '1');
    assert.equal(nhtsaExpectedCheckDigit('5YJ3E1EA1KF131548'), '7');
    assert.equal(nhtsaExpectedCheckDigit('1FTFW1ET5DFC10312'), '9');
    assert.equal(nhtsaModelYearFromVin('1HGCM82633A004352'), 2003);
    assert.equal(nhtsaModelYearFromVin('3VV3B7AXXNM077525'), 2022);
  });

  it('decodes a clean VIN into the flat envelope with string values in key order', async () => {
    const r = await decode('1HGCM82633A004352');
    assert.equal(r.status, 200);
    const body = r.json();
    assert.deepEqual(Object.keys(body), ['Count', 'Message', 'SearchCriteria', 'Results']);
    assert.equal(body.Count, 1);
    assert.equal(body.SearchCriteria, 'VIN(s): 1HGCM82633A004352');
    assert.match(String(body.Message), /^Results returned successfully/);
    const v = row(body);
    assert.equal(v.Make, 'HONDA');
    assert.equal(v.Model, 'Accord');
    assert.equal(v.ModelYear, '2003');
    assert.equal(v.ErrorCode, '0');
    assert.equal(v.ErrorText, '0 - VIN decoded clean. Check Digit (9th position) is correct');
    assert.equal(v.VehicleDescriptor, '1HGCM826*3A');
    assert.ok(Object.values(v).every((x) => typeof x === 'string'));
    assert.ok(Object.keys(v).length > 140);
    assert.equal(v.Series2, '');
  });

  it('reports decode problems inside a 200 via comma-joined ErrorCode', async () => {
    const tesla = row((await decode('5YJ3E1EA1KF131548')).json());
    assert.equal(tesla.ErrorCode, '1');
    assert.equal(tesla.Make, 'TESLA', 'bad check digit still decodes');

    const ioq = await decode('1HGCM82633A00435O');
    assert.equal(ioq.status, 200);
    const ioqRow = row(ioq.json());
    assert.deepEqual(ioqRow.ErrorCode!.split(','), ['400']);
    assert.match(ioqRow.AdditionalErrorText!, /Invalid character\(s\): 17:O\./);

    const unknown = row((await decode('11111111111111111')).json());
    assert.equal(unknown.ErrorCode, '7');
    assert.equal(unknown.Make, '');

    const badYear = row((await decode('1HGCM8263ZA004352')).json());
    assert.ok(badYear.ErrorCode!.split(',').includes('11'));
    assert.ok(badYear.ErrorCode!.split(',').includes('1'));
    assert.match(badYear.ErrorText!, /; /);

    const partial = row((await decode('5UXWX7C5*BA')).json());
    assert.equal(partial.ErrorCode, '6');
    assert.equal(partial.Make, 'BMW');
    assert.equal(partial.ModelYear, '2011');

    const short = row((await decode('1HGCM')).json());
    assert.ok(short.ErrorCode!.split(',').includes('6'));

    const mismatch = row((await decode('1HGCM82633A004352', 'format=json&modelyear=2005')).json());
    assert.equal(mismatch.ErrorCode, '12');
  });

  it('serves fixtures added per test, case-insensitive paths, the nested variant, XML without format, and batch', async () => {
    fake.addVehicle('2T1BURHE0JC012345', { Make: 'TOYOTA', Model: 'Corolla', ModelYear: 2018 });
    const toyota = row((await decode('2t1burhe0jc012345', 'format=JSON', 'decodevinvalues')).json());
    assert.equal(toyota.Make, 'TOYOTA');
    assert.equal(toyota.ModelYear, '2018');

    const ext = row((await decode('1HGCM82633A004352', 'format=json', 'DecodeVinValuesExtended')).json());
    assert.equal(ext.Make, 'HONDA');

    const nested = (await decode('1HGCM82633A004352', 'format=json', 'DecodeVin')).json();
    const rows = nested.Results as Array<Record<string, unknown>>;
    assert.equal(nested.Count, rows.length);
    assert.deepEqual(rows.find((x) => x.Variable === 'Make'), { Value: 'HONDA', ValueId: '', Variable: 'Make', VariableId: 26 });
    assert.equal(rows.find((x) => x.Variable === 'Series2')?.Value, null);

    const xml = await decode('1HGCM82633A004352', '');
    assert.equal(xml.status, 200);
    assert.match(xml.text, /^<\?xml/);
    assert.throws(() => xml.json());

    const res = await fetch(`${fake.url}/api/vehicles/DecodeVINValuesBatch/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ DATA: '1HGCM82633A004352; 5YJ3E1EA1KF131548,2019', format: 'json' }).toString(),
    });
    const batch = (await res.json()) as Record<string, unknown>;
    assert.equal(batch.Count, 2);
    assert.deepEqual((batch.Results as Array<Record<string, string>>).map((x) => [x.VIN, x.Make, x.ErrorCode]), [
      ['1HGCM82633A004352', 'HONDA', '0'],
      ['5YJ3E1EA1KF131548', 'TESLA', '1'],
    ]);
    const tooMany = await fetch(`${fake.url}/api/vehicles/DecodeVINValuesBatch/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ DATA: Array.from({ length: 51 }, () => '1HGCM82633A004352').join(';'), format: 'json' }).toString(),
    });
    assert.equal(tooMany.status, 400);
  });

  it('injects 429/503/timeouts and records decodes so callers can prove caching', async () => {
    fake.failNext(1, 429);
    assert.equal((await decode('1HGCM82633A004352')).status, 429);
    fake.setDown(true);
    assert.equal((await decode('1HGCM82633A004352')).status, 503);
    fake.setDown(true, 'timeout');
    const hung = await fetch(`${fake.url}/api/vehicles/DecodeVinValues/1HGCM82633A004352?format=json`, { signal: AbortSignal.timeout(150) }).catch((e: unknown) => e);
    assert.ok(hung instanceof Error);
    fake.setDown(false);
    assert.equal((await decode('1HGCM82633A004352')).status, 200);
    assert.equal(fake.decodeRequests('1hgcm82633a004352').length, 4);
    assert.equal(fake.decodeRequests('5YJ3E1EA1KF131548').length, 0);
    assert.equal(fake.requests.at(-1)?.query.format, 'json');
  });
});
