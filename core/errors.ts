/**
 * Core's coded errors. Every code lives in ERROR_CODES exactly once, with its HTTP status; the README's
 * table is checked against this map by a test, so the two cannot drift.
 */
export const ERROR_CODES = {
  // configuration and boot
  CFG_ERR_ENV_INVALID: { status: 500, text: 'An environment variable is missing or malformed; the message names each one.' },
  CFG_ERR_EMBEDDED_PG_IN_USE: { status: 500, text: 'The embedded Postgres in DATA_DIR is owned by another running process (named with its pid and port); stop it, or share it deliberately with DATABASE_URL.' },
  CFG_ERR_PORT_IN_USE: { status: 500, text: 'PORT is already taken by another process; the server stops (and stops the embedded Postgres it started).' },
  // tenancy
  TEN_ERR_NOT_FOUND: { status: 404, text: 'No tenant with that id or slug.' },
  TEN_ERR_CONFIG_INVALID: { status: 422, text: 'Tenant configuration failed the dealership schema; details list every error with its JSON path.' },
  TEN_ERR_SCHEMA_NAME: { status: 500, text: 'A tenant schema name failed the generated-name check (never built from input).' },
  TEN_ERR_NUMBER_UNMAPPED: { status: 404, text: 'The dialled number is not attached to any active tenant.' },
  TEN_ERR_NUMBER_TAKEN: { status: 409, text: 'The phone number is already attached to another tenant.' },
  TEN_ERR_NUMBER_INVALID: { status: 400, text: 'The phone number is not a valid E.164 number.' },
  TEN_ERR_OFFBOARDED: { status: 409, text: 'The tenant is offboarded; it takes no calls, jobs or changes.' },
  TEN_ERR_MIGRATION_FAILED: { status: 500, text: 'A tenant schema migration failed; the tenant is marked failed and others continue.' },
  TEN_ERR_CREDENTIAL_KEY: { status: 500, text: 'CREDENTIALS_KEY is missing or cannot decrypt a stored credential.' },
  // plugins
  PLG_ERR_NOT_FOUND: { status: 422, text: 'The configuration names a plugin id that is not registered.' },
  PLG_ERR_SHAPE: { status: 500, text: 'A plugin module does not export a valid manifest.' },
  PLG_ERR_API_VERSION: { status: 500, text: 'A plugin targets an apiVersion core does not support.' },
  PLG_ERR_DUPLICATE_ID: { status: 500, text: 'Two plugins declare the same id.' },
  PLG_ERR_CONFIG_INVALID: { status: 422, text: 'Plugin settings failed its settingsSchema (details carry the ajv paths) or its validate().' },
  PLG_ERR_CAPABILITY_MISSING: { status: 422, text: 'The tenant configuration needs a capability the plugin does not declare.' },
  PLG_ERR_KIND_MISMATCH: { status: 422, text: 'A slot names a plugin of another kind.' },
  PLG_ERR_SLOT_DISABLED: { status: 503, text: 'The tenant slot is disabled because its plugin or config is broken.' },
  PLG_ERR_CREDENTIALS_MISSING: { status: 422, text: 'A plugin credential reference does not resolve to a stored credential.' },
  PLG_ERR_CREDENTIALS_INVALID: { status: 422, text: 'A credential does not match the credentialsSchema of the plugin that references it; details name each field. Nothing is stored.' },
  PLG_ERR_EGRESS_REFUSED: { status: 422, text: 'A plugin request was refused by the egress policy (plain http in production, or a loopback/private/link-local address not in PLUGIN_EGRESS_ALLOW).' },
  PLG_ERR_CALL_FAILED: { status: 502, text: 'A plugin call failed; details carry the PluginError category.' },
  PLG_ERR_TIMEOUT: { status: 504, text: 'A plugin call exceeded its time budget.' },
  PLG_ERR_BREAKER_OPEN: { status: 503, text: 'The plugin circuit breaker is open; the call was not attempted.' },
  // telephony
  TEL_ERR_SIGNATURE: { status: 403, text: 'Missing or invalid X-Twilio-Signature for the configured PUBLIC_BASE_URL.' },
  TEL_ERR_STREAM_TOKEN: { status: 403, text: 'Media stream start carried a reused, expired or foreign call token (WS close 1008).' },
  TEL_ERR_STREAM_DUPLICATE: { status: 409, text: 'A second media stream was opened for a live call.' },
  TEL_ERR_FRAME_INVALID: { status: 400, text: 'Too many malformed media frames (WS close 1008).' },
  TEL_ERR_START_TIMEOUT: { status: 408, text: 'No media stream start arrived in time.' },
  TEL_ERR_PROVIDER: { status: 502, text: 'The Twilio REST API refused a call-control request.' },
  TEL_ERR_RECORDING_INVALID: { status: 400, text: 'A recording status callback named a RecordingUrl that is not the Twilio API URL of that account\'s recording (another host, port, account or recording); nothing was fetched or stored.' },
  // voice
  VOI_ERR_PROVIDER_FAILED: { status: 502, text: 'STT, LLM or TTS failed mid-call; the caller heard the fallback line and a callback task was stored.' },
  VOI_ERR_TOOL_ARGS: { status: 400, text: 'A tool call had invalid arguments (ajv); nothing reached SQL.' },
  VOI_ERR_TOOL_UNKNOWN: { status: 400, text: 'The model called a tool that is not offered in this call state.' },
  VOI_ERR_NOT_VERIFIED: { status: 403, text: 'The tool needs a verified caller.' },
  VOI_ERR_NOT_OWNED: { status: 403, text: 'The appointment or vehicle id does not belong to the verified caller.' },
  VOI_ERR_SLOT_TAKEN: { status: 409, text: 'The slot was just taken; alternatives are offered.' },
  VOI_ERR_BOOKING_OVERLAP: { status: 409, text: 'The vehicle (or, for a booking without a vehicle, the customer) already has an appointment overlapping that time; nothing was booked.' },
  VOI_ERR_BOOKING_INVALID: { status: 422, text: 'A booking or availability request is invalid; details.reason is date, start, service_type, past, beyond_horizon, closed, not_a_slot or field.' },
  VOI_ERR_APPOINTMENT_NOT_FOUND: { status: 404, text: 'No appointment with that id in this tenant.' },
  VOI_ERR_APPOINTMENT_STATE: { status: 409, text: 'The appointment is cancelled, completed or a no-show and cannot be changed.' },
  VOI_ERR_INVALID_VIN: { status: 400, text: 'The VIN failed the length, alphabet or check-digit rule.' },
  VOI_ERR_TOOL_FAILED: { status: 500, text: 'A tool failed unexpectedly (logged with tenantId/callSid); the model hears a neutral "can\'t do that right now".' },
  VOI_ERR_REMINDER_CALL_INVALID: { status: 409, text: 'An outbound media stream named a reminder attempt that is unknown, already has an outcome, was dialled to another number, or whose appointment is no longer booked; the stream is refused and nothing is written.' },
  VOI_ERR_CALLEE_NOT_VERIFIED: { status: 403, text: 'A reminder call tool needs the callee confirmed as the customer first (verify_callee); nothing was changed.' },
  VOI_ERR_REMINDER_OUTCOME_RECORDED: { status: 409, text: 'This reminder call already recorded its outcome (confirm, reschedule, cancel and wrong-person happen once per call); nothing was changed.' },
  // admin api
  ADM_ERR_UNAUTHENTICATED: { status: 401, text: 'Missing, malformed, expired or wrongly signed bearer token.' },
  ADM_ERR_FORBIDDEN: { status: 403, text: 'The token may not act on this tenant or route.' },
  ADM_ERR_VALIDATION: { status: 400, text: 'Request body or query failed validation; details list each error.' },
  ADM_ERR_NOT_FOUND: { status: 404, text: 'No such route or resource.' },
  ADM_ERR_PAYLOAD_TOO_LARGE: { status: 413, text: 'Request body over the size limit.' },
  ADM_ERR_RATE_LIMITED: { status: 429, text: 'Too many requests for this token or IP.' },
  ADM_ERR_INTERNAL: { status: 500, text: 'Unexpected server error (logged with a request id).' },
  // console accounts
  ACC_ERR_UNAUTHENTICATED: { status: 401, text: 'No console session, or it expired, was signed out, its user was removed or its tenant offboarded.' },
  ACC_ERR_BAD_CREDENTIALS: { status: 401, text: 'Sign-in refused: email or password is wrong (the same answer for an unknown email).' },
  ACC_ERR_LOCKED: { status: 423, text: 'The account is locked for 15 minutes after 5 wrong passwords in a row.' },
  ACC_ERR_RATE_LIMITED: { status: 429, text: 'Too many sign-in attempts from this address in the last minute.' },
  ACC_ERR_CSRF: { status: 403, text: 'A state-changing console request without the session\'s CSRF token (X-CSRF-Token header); nothing was changed.' },
  ACC_ERR_INVITE_INVALID: { status: 410, text: 'The invitation link is unknown, already used or expired.' },
  ACC_ERR_EMAIL_TAKEN: { status: 409, text: 'An account with that email already exists.' },
  ACC_ERR_PASSWORD_WEAK: { status: 400, text: 'The new password is shorter than 12 characters (or longer than 256).' },
  ACC_ERR_TALK_TICKET: { status: 403, text: 'A browser test-call socket without a valid one-time ticket for this session (WS close 1008).' },
  // Google Calendar connection (core/integrations/google)
  ADM_ERR_OAUTH_NOT_CONFIGURED: { status: 503, text: 'GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET are not set, so no dealership can connect Google Calendar.' },
  ADM_ERR_OAUTH_STATE: { status: 403, text: 'The OAuth callback carried a state that is forged, expired, already used or bound to another tenant; nothing was stored.' },
  ADM_ERR_OAUTH_DENIED: { status: 400, text: 'The Google consent was declined or the callback carried an error instead of a code; nothing was stored.' },
  ADM_ERR_OAUTH_EXCHANGE: { status: 502, text: 'Google refused the authorization code (or answered without a refresh token or the calendar scope); nothing was stored.' },
  ADM_ERR_GOOGLE_NOT_CONNECTED: { status: 409, text: 'The tenant has no Google Calendar connection (connect it first).' },
  ADM_ERR_GOOGLE_NEEDS_RECONNECT: { status: 409, text: 'Google refused the stored grant (invalid_grant: revoked, expired or rotated out); an admin must connect Google again.' },
  ADM_ERR_GOOGLE_CALENDAR: { status: 422, text: 'The chosen calendar is not one the connected Google account can write to; nothing changed.' },
  ADM_ERR_GOOGLE_UPSTREAM: { status: 502, text: 'A Google API call failed (outage, timeout or unexpected answer); nothing changed.' },
  ADM_ERR_PUSH_FORGED: { status: 403, text: 'A Google push notification named an unknown channel or carried a wrong X-Goog-Channel-Token; nothing was queued.' },
  // jobs
  JOB_ERR_ENQUEUE: { status: 503, text: 'A job could not be enqueued (queue backend unreachable).' },
  JOB_ERR_STALE: { status: 409, text: 'A job found its subject changed (appointment cancelled or moved) and did nothing.' },
  // usage and limits
  USG_ERR_CONCURRENT_CALLS: { status: 429, text: 'The tenant is at its `limits.maxConcurrentCalls`: an inbound caller hears the polite busy line (and is transferred when a transfer number is set), a callback task is stored; an outbound call waits.' },
  USG_ERR_MONTHLY_MINUTES: { status: 429, text: 'The tenant used its `limits.monthlyMinutes` for this calendar month (in its time zone): inbound callers hear the polite line, outbound calls wait for the next month.' },
  USG_ERR_LIMIT_CHECK_FAILED: { status: 503, text: 'A usage limit could not be checked (state store or database unreachable, or lease contention); the call is admitted and the failure logged and counted.' },
  JOB_ERR_EMAIL_REJECTED: { status: 422, text: 'The email provider refused a confirmation email for good (rejected recipient, unverified sender, suspended account); recorded in appointment_emails, not retried.' },
  JOB_ERR_EMAIL_SEND: { status: 502, text: 'A confirmation email could not be sent this time (throttled, provider or relay unreachable); the email job retries with backoff, then records it failed.' },
  // outbound reminder calls
  OUT_ERR_ATTEMPT_NOT_FOUND: { status: 404, text: 'A signed outbound-call callback names a reminder attempt the tenant does not have.' },
  OUT_ERR_CALLBACK_INVALID: { status: 400, text: 'An outbound-call callback lacks a valid CallSid or AnsweredBy, or names another call than the attempt placed; nothing changed.' },
  OUT_ERR_NO_CALLER_ID: { status: 422, text: 'The tenant has no phone number to place reminder calls from.' },
  OUT_ERR_OUTSIDE_WINDOW: { status: 409, text: 'A send-now reminder was asked for outside the calling window (platform admins may pass ignoreWindow).' },
  OUT_ERR_APPOINTMENT_NOT_BOOKED: { status: 409, text: 'A send-now reminder was asked for an appointment that is not booked or has no phone number.' },
} as const satisfies Record<string, { status: number; text: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ServiceLaneError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly status: number;
  constructor(code: ErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServiceLaneError';
    this.code = code;
    this.details = details;
    this.status = ERROR_CODES[code].status;
  }
  toJSON(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

export const isServiceLaneError = (e: unknown): e is ServiceLaneError => e instanceof ServiceLaneError;
