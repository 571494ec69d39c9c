import { ERROR_CODES } from '../errors.js';
import { usageOpenApi } from './usage-routes.js';
import { CREDENTIAL_NAME_PATTERN, PAGE, SLUG_PATTERN, TENANT_ID_PATTERN } from './validate.js';
import { E164_PATTERN } from '../sdk/phone.js';
import { PLUGIN_KINDS } from '../sdk/define-plugin.js';

type Obj = Record<string, unknown>;

const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Obj): Obj => ({ 'application/json': { schema } });
const errorResponse = (description: string): Obj => ({ description, content: json(ref('Error')) });
const ok = (description: string, schema: Obj): Obj => ({ description, content: json(schema) });

const tenantIdParam = {
  name: 'id', in: 'path', required: true, schema: { type: 'string', anyOf: [{ pattern: TENANT_ID_PATTERN }, { pattern: SLUG_PATTERN }] },
  description: 'Tenant id (lowercase ULID) or the tenant\'s slug (`demo`); a slug is resolved to the id before authorisation.',
};
/** Instant query parameters (`from`, `to`, `before`): see parseQueryInstants in validate.ts. */
const instantParam = (name: string, description: string): Obj => ({
  name, in: 'query', schema: { type: 'string', examples: ['2026-12-07T09:00:00-08:00', '2026-12-07T17:00:00Z', '2026-12-07'] },
  description: `${description} An ISO 8601 date-time with an offset, or a date (a day in the dealership's time zone).`,
});
const e164Param = { name: 'e164', in: 'path', required: true, schema: { type: 'string', pattern: E164_PATTERN }, description: 'E.164 number; send `+` as-is or as %2B.' };
const limitParam = { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: PAGE.maxLimit, default: PAGE.defaultLimit } };
const offsetParam = { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 100000, default: 0 } };

/** Responses every authenticated route can give, so each operation lists them without repeating itself. */
const common = {
  400: errorResponse('ADM_ERR_VALIDATION: body or query failed validation; details.errors lists each.'),
  401: errorResponse('ADM_ERR_UNAUTHENTICATED'),
  403: errorResponse('ADM_ERR_FORBIDDEN (a tenant role outside its tenant, a viewer changing something, or a platform-only action); audited. ACC_ERR_CSRF for a session without its CSRF token.'),
  429: errorResponse('ADM_ERR_RATE_LIMITED'),
};
const tenantCommon = { ...common, 404: errorResponse('TEN_ERR_NOT_FOUND') };

function op(o: { id: string; summary: string; tags: string[]; params?: Obj[]; body?: Obj; responses: Obj; description?: string }): Obj {
  return {
    operationId: o.id, summary: o.summary, tags: o.tags, ...(o.description ? { description: o.description } : {}),
    ...(o.params ? { parameters: o.params } : {}),
    ...(o.body ? { requestBody: { required: true, content: json(o.body) } } : {}),
    responses: o.responses,
  };
}

const paged = (item: Obj): Obj => ({
  type: 'object', required: ['items', 'limit'],
  properties: { items: { type: 'array', items: item }, limit: { type: 'integer' }, offset: { type: 'integer' }, total: { type: 'integer' } },
});

/**
 * The OpenAPI 3.1 document served at /admin/v1/openapi.json. Hand-written so it says what we mean; a unit
 * test checks that every route the router mounts appears here and vice versa.
 */
export function openApiDocument(): Obj {
  const usage = usageOpenApi({ op, tenantIdParam, instantParam, common, tenantCommon });
  return {
    openapi: '3.1.0',
    info: {
      title: 'ServiceLane admin API', version: '1.0.0',
      description: 'Onboard dealerships (tenants), attach phone numbers, store credentials, and read tenant data. '
        + 'Bearer JWT (iss and aud `servicelane`, exp required), or a console session cookie with X-CSRF-Token on changes. '
        + 'Roles: platform_admin (all tenants), tenant_admin (claim `tenant`, its own only), tenant_viewer (its own, read-only, no PII). '
        + 'Errors are `{error:{code,message,details,requestId}}`; every response carries `X-Request-Id`.',
    },
    servers: [{ url: '/admin/v1' }],
    security: [{ bearer: [] }],
    tags: [{ name: 'tenants' }, { name: 'numbers' }, { name: 'credentials' }, { name: 'plugins' }, { name: 'integrations' }, { name: 'data' }, { name: 'meta' }, { name: 'usage' }],
    paths: {
      '/': {
        get: { ...op({ id: 'getIndex', summary: 'Where this document is and how to authenticate', tags: ['meta'], responses: { 200: ok('index', { type: 'object' }) } }), security: [] },
      },
      '/openapi.json': {
        get: { ...op({ id: 'getOpenApi', summary: 'This document', tags: ['meta'], responses: { 200: ok('OpenAPI 3.1 document', { type: 'object' }) } }), security: [] },
      },
      '/migrations': {
        get: op({ id: 'getMigrations', summary: 'Migration state of the platform schema and all tenants (platform_admin)', tags: ['meta'], responses: { 200: ok('status', ref('MigrationStatus')), ...common } }),
      },
      '/tenants': {
        post: op({
          id: 'createTenant', summary: 'Onboard a dealership: creates its schema t_<ulid> and tables (platform_admin)', tags: ['tenants'],
          description: 'The name is stored as data only; the schema name is generated and never taken from the request (a `schema` field is rejected).',
          body: ref('CreateTenant'),
          responses: {
            201: ok('created', ref('Tenant')), ...common,
            400: errorResponse('ADM_ERR_VALIDATION: body failed validation, a `schema` field was sent, or the slug is taken'),
            422: errorResponse('TEN_ERR_CONFIG_INVALID (every error with its JSON path) or PLG_ERR_* from plugin validation'),
            413: errorResponse('ADM_ERR_PAYLOAD_TOO_LARGE (body over 100 kB)'),
          },
        }),
        get: op({ id: 'listTenants', summary: 'List tenants (a tenant_admin sees its own)', tags: ['tenants'], params: [limitParam, offsetParam], responses: { 200: ok('tenants', paged(ref('Tenant'))), ...common } }),
      },
      '/tenants/{id}': {
        get: op({ id: 'getTenant', summary: 'A tenant with config, numbers, credential names, plugin status and migration state', tags: ['tenants'], params: [tenantIdParam], responses: { 200: ok('tenant', ref('TenantDetail')), ...tenantCommon } }),
        delete: op({
          id: 'offboardTenant', summary: 'Offboard: disabled at once, numbers released, data kept (platform_admin)', tags: ['tenants'], params: [tenantIdParam],
          responses: { 200: ok('offboarded', { type: 'object', properties: { id: { type: 'string' }, status: { const: 'offboarded' }, releasedNumbers: { type: 'array', items: { type: 'string' } } } }), ...tenantCommon },
        }),
      },
      '/tenants/{id}/config': {
        put: op({
          id: 'putTenantConfig', summary: 'Replace the dealership configuration', tags: ['tenants'], params: [tenantIdParam], body: ref('DealershipConfig'),
          responses: { 200: ok('updated', ref('TenantDetail')), ...tenantCommon, 409: errorResponse('TEN_ERR_OFFBOARDED'), 422: errorResponse('TEN_ERR_CONFIG_INVALID or PLG_ERR_CONFIG_INVALID / PLG_ERR_NOT_FOUND / PLG_ERR_KIND_MISMATCH / PLG_ERR_CAPABILITY_MISSING; details.errors lists each') },
        }),
      },
      '/tenants/{id}/numbers/{e164}': {
        put: op({
          id: 'attachNumber', summary: 'Attach a phone number and point its Twilio webhooks here when the account owns it (platform_admin)', tags: ['numbers'], params: [tenantIdParam, e164Param],
          responses: {
            201: ok('attached', ref('NumberAttachment')), 200: ok('already attached to this tenant', ref('NumberAttachment')),
            ...tenantCommon, 400: errorResponse('TEN_ERR_NUMBER_INVALID'), 409: errorResponse('TEN_ERR_NUMBER_TAKEN (another tenant) or TEN_ERR_OFFBOARDED'),
          },
        }),
        delete: op({
          id: 'detachNumber', summary: 'Detach a phone number (platform_admin)', tags: ['numbers'], params: [tenantIdParam, e164Param],
          responses: { 200: ok('detached', { type: 'object', properties: { e164: { type: 'string' }, tenantId: { type: 'string' }, detached: { const: true } } }), ...tenantCommon, 400: errorResponse('TEN_ERR_NUMBER_INVALID') },
        }),
      },
      '/tenants/{id}/credentials': {
        get: op({ id: 'listCredentials', summary: 'Credential names (values are write-only)', tags: ['credentials'], params: [tenantIdParam], responses: { 200: ok('names', { type: 'object', properties: { names: { type: 'array', items: { type: 'string' } } } }), ...tenantCommon } }),
      },
      '/tenants/{id}/credentials/{name}': {
        put: op({
          id: 'putCredential', summary: 'Store a credential, encrypted with CREDENTIALS_KEY (write-only)', tags: ['credentials'],
          params: [tenantIdParam, { name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: CREDENTIAL_NAME_PATTERN } }],
          body: { type: 'object', additionalProperties: false, required: ['value'], properties: { value: { description: 'Any JSON value except null (an API key string, an OAuth token object, …).' } } },
          responses: { 204: { description: 'stored' }, ...tenantCommon, 409: errorResponse('TEN_ERR_OFFBOARDED') },
        }),
      },
      '/tenants/{id}/plugins': {
        get: op({ id: 'getPluginStatus', summary: 'Status of each plugin slot (ok, disabled with the reason, unconfigured)', tags: ['plugins'], params: [tenantIdParam], responses: { 200: ok('slots', { type: 'object', properties: { slots: { type: 'array', items: ref('SlotStatus') } } }), ...tenantCommon } }),
      },
      '/tenants/{id}/plugins/{slot}/test': {
        post: op({
          id: 'testPlugin', summary: "Run the slot plugin's testConnection()", tags: ['plugins'],
          params: [tenantIdParam, { name: 'slot', in: 'path', required: true, schema: { type: 'string', enum: [...PLUGIN_KINDS] } }],
          responses: { 200: ok('result', { type: 'object', properties: { slot: { type: 'string' }, result: {} } }), ...tenantCommon },
        }),
      },
      '/tenants/{id}/integrations/google': {
        get: op({ id: 'getGoogleConnection', summary: 'Google Calendar connection: not_connected, connected or needs_reconnect (Google refused the grant)', tags: ['integrations'], params: [tenantIdParam], responses: { 200: ok('connection', ref('GoogleConnection')), ...tenantCommon } }),
        put: op({
          id: 'chooseGoogleCalendar', summary: 'Choose the calendar: sets the calendar slot to calendar-google, opens the push channel, queues the first sync', tags: ['integrations'],
          params: [tenantIdParam], body: { type: 'object', additionalProperties: false, required: ['calendarId'], properties: { calendarId: { type: 'string', minLength: 1, maxLength: 255 } } },
          responses: {
            200: ok('connection', ref('GoogleConnection')), ...tenantCommon,
            409: errorResponse('ADM_ERR_GOOGLE_NOT_CONNECTED or ADM_ERR_GOOGLE_NEEDS_RECONNECT'), 422: errorResponse('ADM_ERR_GOOGLE_CALENDAR: not a calendar the account can write to'),
            502: errorResponse('ADM_ERR_GOOGLE_UPSTREAM'),
          },
        }),
        delete: op({
          id: 'disconnectGoogle', summary: 'Disconnect: stop the push channel, revoke the grant, delete the credential and the mirror, calendar slot back to calendar-builtin', tags: ['integrations'],
          params: [tenantIdParam], responses: { 200: ok('disconnected', { type: 'object', properties: { status: { const: 'not_connected' }, revoked: { type: 'boolean' } } }), ...tenantCommon, 409: errorResponse('ADM_ERR_GOOGLE_NOT_CONNECTED') },
        }),
      },
      '/tenants/{id}/integrations/google/authorize': {
        post: op({
          id: 'authorizeGoogle', summary: "Start connecting: Google's consent URL (offline access, calendar scopes, PKCE, a state valid 10 minutes, once)", tags: ['integrations'],
          params: [tenantIdParam],
          responses: { 200: ok('consent URL', { type: 'object', required: ['url'], properties: { url: { type: 'string' }, expiresInSec: { type: 'integer' } } }), ...tenantCommon, 503: errorResponse('ADM_ERR_OAUTH_NOT_CONFIGURED') },
        }),
      },
      '/tenants/{id}/integrations/google/callback': {
        post: op({
          id: 'completeGoogle', summary: "Finish connecting from a console that received Google's redirect: the state must be this tenant's and this admin's", tags: ['integrations'],
          params: [tenantIdParam],
          body: { type: 'object', additionalProperties: false, required: ['state'], properties: { state: { type: 'string' }, code: { type: 'string' }, error: { type: 'string' } } },
          responses: {
            200: ok('connection', ref('GoogleConnection')), ...tenantCommon,
            400: errorResponse('ADM_ERR_VALIDATION or ADM_ERR_OAUTH_DENIED'), 403: errorResponse('ADM_ERR_OAUTH_STATE (forged, expired, replayed, other tenant or admin) or ADM_ERR_FORBIDDEN'),
            502: errorResponse('ADM_ERR_OAUTH_EXCHANGE'),
          },
        }),
      },
      '/tenants/{id}/integrations/google/calendars': {
        get: op({
          id: 'listGoogleCalendars', summary: 'Calendars the connected Google account can see', tags: ['integrations'], params: [tenantIdParam],
          responses: { 200: ok('calendars', { type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, summary: { type: 'string' }, primary: { type: 'boolean' }, accessRole: { type: 'string' }, timeZone: { type: ['string', 'null'] } } } } } }), ...tenantCommon, 409: errorResponse('ADM_ERR_GOOGLE_NOT_CONNECTED or ADM_ERR_GOOGLE_NEEDS_RECONNECT'), 502: errorResponse('ADM_ERR_GOOGLE_UPSTREAM') },
        }),
      },
      '/tenants/{id}/customers': {
        get: op({
          id: 'listCustomers', summary: 'Customers (with vehicles) by exact phone or name prefix', tags: ['data'],
          params: [tenantIdParam, { name: 'phone', in: 'query', schema: { type: 'string', pattern: E164_PATTERN } }, { name: 'name', in: 'query', schema: { type: 'string', maxLength: 100 } }, limitParam, offsetParam],
          responses: { 200: ok('customers', paged(ref('Customer'))), ...tenantCommon },
        }),
      },
      '/tenants/{id}/appointments': {
        get: op({
          id: 'listAppointments', summary: 'Appointments overlapping [from, to) (default: the next 30 days; at most 366)', tags: ['data'],
          params: [tenantIdParam, instantParam('from', 'Start (inclusive); a date means its first instant. Default: now.'), instantParam('to', 'End (exclusive); a date means the end of that day. Default: from + 30 days.'), limitParam, offsetParam],
          responses: { 200: ok('appointments', paged(ref('Appointment'))), ...tenantCommon },
        }),
      },
      '/tenants/{id}/reminders': {
        get: op({
          id: 'listReminders', summary: 'Reminder calls by due time, each with its attempts (skips and due calls; calls are not placed yet)', tags: ['data'],
          params: [tenantIdParam, { name: 'status', in: 'query', schema: { type: 'string', enum: ['scheduled', 'due', 'skipped', 'cancelled', 'superseded'] } },
            instantParam('from', 'Due at or after (inclusive).'), instantParam('to', 'Due before (exclusive); a date means the end of that day.'), limitParam, offsetParam],
          responses: { 200: ok('reminders', paged(ref('Reminder'))), ...tenantCommon },
        }),
      },
      '/tenants/{id}/appointments/{appointmentId}/reminders': {
        post: op({
          id: 'sendReminderNow', summary: 'Place a reminder call for this appointment now (inside the calling window; `ignoreWindow` is for platform admins and still keeps 08:00-21:00)', tags: ['data'],
          params: [tenantIdParam, { name: 'appointmentId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          body: { type: 'object', additionalProperties: false, properties: { ignoreWindow: { type: 'boolean', default: false } } },
          responses: {
            202: ok('the reminder, queued', { type: 'object', required: ['id', 'status'], properties: { id: { type: 'string' }, status: { type: 'string', enum: ['scheduled'] } } }),
            ...tenantCommon, 409: errorResponse('OUT_ERR_OUTSIDE_WINDOW or OUT_ERR_APPOINTMENT_NOT_BOOKED'),
          },
        }),
      },
      '/tenants/{id}/callbacks': {
        get: op({
          id: 'listCallbacks', summary: 'Callback tasks for the dealership\'s staff (agent escalations and voicemails with transcripts), newest first', tags: ['data'],
          params: [tenantIdParam, { name: 'status', in: 'query', schema: { type: 'string', enum: ['open', 'done'] } },
            { name: 'source', in: 'query', schema: { type: 'string', enum: ['agent', 'voicemail'] } },
            instantParam('from', 'Created at or after (inclusive).'), instantParam('to', 'Created before (exclusive); a date means the end of that day.'), limitParam, offsetParam],
          responses: { 200: ok('callback tasks', paged(ref('CallbackTask'))), ...tenantCommon },
        }),
      },
      '/tenants/{id}/calls': {
        get: op({
          id: 'listCalls', summary: 'Calls, newest first', tags: ['data'],
          description: 'Caller numbers read `hidden` for roles without PII access (tenant_viewer).',
          params: [tenantIdParam, instantParam('before', 'Cursor: startedAt of the last item of the previous page.'), limitParam,
            instantParam('from', 'Calls started at or after (a bare date: that day on the dealership\'s calendar).'),
            instantParam('to', 'Calls started before (a bare date: the end of that day).'),
            { name: 'outcome', in: 'query', schema: { type: 'string', pattern: '^[a-z_]{1,40}$' } },
            { name: 'number', in: 'query', schema: { type: 'string', pattern: E164_PATTERN }, description: 'The caller\'s E.164 number.' },
            { name: 'customer', in: 'query', schema: { type: 'string', maxLength: 64 }, description: 'Customer id.' }],
          responses: { 200: ok('calls', paged(ref('Call'))), ...tenantCommon },
        }),
      },
      '/tenants/{id}/calls/{callId}': {
        get: op({
          id: 'getCall', summary: 'One call with its events (the transcript, at most 1,000)', tags: ['data'],
          params: [tenantIdParam, { name: 'callId', in: 'path', required: true, schema: { type: 'string' }, description: 'The call uuid or its Twilio CallSid.' }],
          responses: { 200: ok('call', { allOf: [ref('Call'), { type: 'object', properties: { transcript: { type: 'array', items: ref('CallEvent') } } }] }), ...tenantCommon },
        }),
      },
      ...usage.paths,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: {
        ...usage.schemas,
        Error: {
          type: 'object', required: ['error'],
          properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', enum: Object.keys(ERROR_CODES) }, message: { type: 'string' }, details: {}, requestId: { type: 'string', description: 'Also in the X-Request-Id header and on the server\'s error log line.' } } } },
        },
        CreateTenant: {
          type: 'object', additionalProperties: false, required: ['name', 'config'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200, description: 'Display name; stored as data only.' },
            slug: { type: 'string', pattern: SLUG_PATTERN, description: 'URL-friendly handle; defaults to the id.' },
            config: ref('DealershipConfig'),
            seed: { type: 'string', enum: ['demo'], description: 'Also insert the demo customers, vehicles and appointments.' },
          },
        },
        Reminder: {
          type: 'object',
          properties: {
            id: { type: 'string' }, appointmentId: { type: 'string' }, hoursBefore: { type: 'integer' },
            startsAt: { type: 'string', format: 'date-time', description: 'The appointment start this reminder was computed for.' },
            dueAt: { type: 'string', format: 'date-time', description: 'When it rings; moved forward by the calling window.' },
            status: { type: 'string', enum: ['scheduled', 'due', 'skipped', 'cancelled', 'superseded'] },
            skipReason: { type: ['string', 'null'] }, windowDeferrals: { type: 'integer' },
            outcome: { type: ['string', 'null'], description: 'The final outcome once no further attempt follows (voicemail, no_answer, busy, failed, answered, confirmed, …).' },
            kind: { type: 'string', enum: ['scheduled', 'manual'], description: '`manual`: sent now from the admin API or `npm run call`.' },
            attempts: { type: 'array', items: { type: 'object', properties: {
              attempt: { type: 'integer' }, scheduledAt: { type: 'string', format: 'date-time' }, startedAt: { type: 'string', format: 'date-time' },
              callSid: { type: ['string', 'null'] },
              amdResult: { type: ['string', 'null'], description: 'Twilio AnsweredBy: human, machine_end_beep, machine_end_silence, machine_end_other, fax, unknown.' },
              outcome: { type: 'string', description: '`due` while the call is placed or live; `skipped_<reason>`; `deferred`; what the dialer settled (`voicemail`, `no_answer`, `busy`, `failed`, `answered`); or what the answered call decided: `confirmed`, `rescheduled`, `cancelled`, `opted_out`, `wrong_person`, `not_available`, `identity_unconfirmed`.' },
              outcomeAt: { type: ['string', 'null'], format: 'date-time', description: 'When the answered call recorded its outcome (set once).' },
              callId: { type: ['string', 'null'], description: 'The call the attempt became: its transcript is GET /tenants/{id}/calls/{callId}.' },
              callStatus: { type: ['string', 'null'], description: 'Twilio CallStatus, only ever moving forward.' },
              placedAt: { type: ['string', 'null'], format: 'date-time' }, endedAt: { type: ['string', 'null'], format: 'date-time' },
              dialError: { type: ['string', 'null'] },
            } } },
          },
        },
        CallbackTask: {
          type: 'object',
          properties: {
            id: { type: 'string' }, phone: { type: ['string', 'null'] }, reason: { type: 'string' }, status: { type: 'string', enum: ['open', 'done'] },
            customerId: { type: ['string', 'null'] }, callSid: { type: ['string', 'null'] }, createdAt: { type: 'string', format: 'date-time' },
            source: { type: 'string', enum: ['agent', 'voicemail'] },
            transcript: { type: ['string', 'null'], description: 'What the caller said in the voicemail (the tenant\'s STT plugin, pre-recorded).' },
            transcriptStatus: { type: ['string', 'null'], enum: ['pending', 'done', 'empty', 'failed', null] },
            transcriptLanguage: { type: ['string', 'null'] },
            recordingSid: { type: ['string', 'null'] },
            recordingUrl: { type: ['string', 'null'], description: 'The Twilio recording (needs the account\'s credentials; append .wav or .mp3).' },
            recordingDurationSec: { type: ['integer', 'null'] },
          },
        },
        DealershipConfig: { type: 'object', description: 'tenants/schema/dealership.schema.json (timezone, businessHours, serviceTypes, resources, plugins, …).' },
        Tenant: {
          type: 'object',
          properties: {
            id: { type: 'string' }, slug: { type: 'string' }, name: { type: 'string' }, schema: { type: 'string', pattern: '^t_[a-z0-9]{20,40}$' },
            status: { type: 'string', enum: ['provisioning', 'active', 'failed', 'offboarded'] }, createdAt: { type: 'string', format: 'date-time' },
            configHash: { type: 'string' }, configValid: { type: 'boolean' },
          },
        },
        TenantDetail: {
          allOf: [ref('Tenant'), {
            type: 'object',
            properties: {
              config: ref('DealershipConfig'), configErrors: {},
              numbers: { type: 'array', items: { type: 'object', properties: { e164: { type: 'string' }, webhooksConfigured: { type: 'boolean' } } } },
              credentials: { type: 'array', items: { type: 'string' } },
              plugins: { type: ['array', 'null'], items: ref('SlotStatus') },
              migration: { type: ['object', 'null'], properties: { version: { type: ['string', 'null'] }, state: { type: 'string' }, error: { type: ['string', 'null'] }, updatedAt: { type: 'string' } } },
            },
          }],
        },
        NumberAttachment: {
          type: 'object',
          properties: { e164: { type: 'string' }, tenantId: { type: 'string' }, webhooksConfigured: { type: 'boolean' }, reason: { type: ['string', 'null'] } },
        },
        GoogleConnection: {
          type: 'object', required: ['status'],
          properties: {
            status: { type: 'string', enum: ['not_connected', 'connected', 'needs_reconnect'] }, calendarId: { type: ['string', 'null'] },
            connectedBy: { type: ['string', 'null'] }, connectedAt: { type: ['string', 'null'] }, lastError: { type: ['string', 'null'] },
            lastSyncedAt: { type: ['string', 'null'] }, channelExpiresAt: { type: ['string', 'null'] },
          },
        },
        SlotStatus: {
          type: 'object',
          properties: { slot: { type: 'string' }, pluginId: { type: ['string', 'null'] }, state: { type: 'string', enum: ['ok', 'disabled', 'unconfigured'] }, error: {}, needsReconnect: { type: 'boolean', description: 'calendar-google only: Google refused the grant; connect again' } },
        },
        MigrationStatus: {
          type: 'object',
          properties: { platformCurrent: { type: 'boolean' }, platformPending: { type: 'array', items: { type: 'string' } }, tenantsBehind: { type: 'integer' }, tenantsFailed: { type: 'integer' }, latestTenantVersion: { type: ['string', 'null'] } },
        },
        Customer: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' }, firstName: { type: 'string' }, lastName: { type: 'string' }, phone: { type: ['string', 'null'] },
            email: { type: ['string', 'null'] }, zip: { type: ['string', 'null'] }, createdAt: { type: 'string', format: 'date-time' },
            vehicles: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, vin: { type: ['string', 'null'] }, year: { type: ['integer', 'null'] }, make: { type: ['string', 'null'] }, model: { type: ['string', 'null'] }, mileage: { type: ['integer', 'null'] } } } },
          },
        },
        Appointment: {
          type: 'object',
          properties: {
            id: { type: 'string' }, customerId: { type: 'string' }, vehicleId: { type: ['string', 'null'] }, customerName: { type: ['string', 'null'] },
            customerPhone: { type: ['string', 'null'] }, resourceId: { type: 'string' }, serviceType: { type: 'string' },
            startsAt: { type: 'string', format: 'date-time' }, endsAt: { type: 'string', format: 'date-time' },
            status: { type: 'string', enum: ['booked', 'cancelled', 'completed', 'no_show'] }, source: { type: 'string' }, notes: { type: ['string', 'null'] },
          },
        },
        Call: {
          type: 'object',
          properties: {
            id: { type: 'string' }, callSid: { type: 'string' }, direction: { type: 'string', enum: ['inbound', 'outbound'] }, from: { type: ['string', 'null'] },
            to: { type: ['string', 'null'] }, status: { type: 'string' }, customerId: { type: ['string', 'null'] }, outcome: { type: ['string', 'null'] },
            summary: { type: ['string', 'null'] }, startedAt: { type: 'string', format: 'date-time' }, endedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        CallEvent: { type: 'object', properties: { at: { type: 'string', format: 'date-time' }, kind: { type: 'string' }, payload: {} } },
      },
    },
  };
}
