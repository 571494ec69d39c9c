// Fake Twilio REST API (protocols.md §3): Calls and IncomingPhoneNumbers under /2010-04-01, with
// Twilio's snake_case JSON, RFC 2822 dates, list envelopes and error bodies, so the real `twilio`
// SDK (routed here by an httpClient override) parses every answer exactly as in production.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { amdCallbackParams, newSid, postWebhook, rfc2822, statusCallbackParams, voiceWebhookParams, type WebhookParams } from './twilio-webhooks.js';

export type FormValue = string | string[];
export type FormBody = Record<string, FormValue>;

export interface RecordedTwilioRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed x-www-form-urlencoded body; repeated keys (e.g. StatusCallbackEvent) become arrays. */
  form: FormBody;
  headers: http.IncomingHttpHeaders;
  status: number;
}

export interface FakeCall {
  sid: string;
  to: string;
  from: string;
  status: string;
  direction: string;
  dateCreated: Date;
  dateUpdated: Date;
  startTime: Date | null;
  endTime: Date | null;
  duration: number | null;
  answeredBy: string | null;
  /** The form body of the create request. */
  params: FormBody;
  /** Form bodies of every update, in order. */
  updates: FormBody[];
}

export interface FakeNumber {
  sid: string;
  phoneNumber: string;
  friendlyName: string;
  voiceUrl: string;
  voiceMethod: string;
  statusCallback: string;
  statusCallbackMethod: string;
  voiceFallbackUrl: string;
  voiceFallbackMethod: string;
  dateCreated: Date;
  dateUpdated: Date;
}

export interface TwilioErrorSpec {
  code?: number;
  message?: string;
}

export interface FakeTwilioRestOptions {
  accountSid: string;
  authToken: string;
  /** Reject From numbers not added with addNumber() (error 21210). Default false. */
  requireOwnedFrom?: boolean;
}

/** How a placed call goes at the callee's end (what the PSTN and Twilio's AMD would report). */
export type CallScenario =
  /** Answered by a person: answered → voice webhook (TwiML) → AMD `human`; stays in progress. */
  | { answer: 'human' | 'unknown' }
  /** Answered by a machine: answered → voice webhook → AMD verdict after the greeting (default machine_end_beep). */
  | { answer: 'machine'; answeredBy?: 'machine_end_beep' | 'machine_end_silence' | 'machine_end_other' | 'fax' }
  /** Never answered: initiated → ringing → the final status. */
  | { answer: 'none'; status: 'no-answer' | 'busy' | 'failed' };

/** One signed callback the fake posted to the app, and what the app answered. */
export interface PostedCallback { callSid: string; kind: 'status' | 'voice' | 'amd'; params: WebhookParams; status: number; body: string; at: number }

export interface FakeTwilioRest {
  /** `http://127.0.0.1:<port>`; route the SDK here with an httpClient that rewrites the origin. */
  url: string;
  accountSid: string;
  requests: RecordedTwilioRequest[];
  calls: Map<string, FakeCall>;
  readonly lastCall: FakeCall | undefined;
  numbers: Map<string, FakeNumber>;
  /** Seed an owned number (E.164); returns it (existing numbers are returned unchanged). */
  addNumber(phoneNumber: string, init?: Partial<Pick<FakeNumber, 'voiceUrl' | 'voiceMethod' | 'statusCallback' | 'statusCallbackMethod' | 'friendlyName'>>): FakeNumber;
  /** The next request (after auth) fails with this status and a Twilio error body. */
  failNext(status: number, err?: TwilioErrorSpec): void;
  /** Move a call along (e.g. to `in-progress` or `completed`) as the PSTN would. */
  setCallStatus(sid: string, status: string, answeredBy?: string): FakeCall;
  /** The JSON Twilio would return for a call (what CallInstance parses). */
  callJson(call: FakeCall): Record<string, unknown>;
  numberJson(num: FakeNumber): Record<string, unknown>;
  /**
   * Stores a finished recording of a call and returns its sid and the `RecordingUrl` Twilio would post (the
   * production `https://api.twilio.com/...` form, no extension). `GET <that path>.wav` answers the bytes as
   * `audio/x-wav` (`.mp3`: `audio/mpeg`), with Basic auth required like any other request here.
   */
  addRecording(o: { callSid: string; audio: Buffer; durationSec?: number }): { sid: string; recordingUrl: string };
  /** Media downloads so far (path and status), to prove what was (not) fetched. */
  readonly mediaFetches: { path: string; status: number }[];
  /**
   * Where callbacks go: URLs under `publicUrl` (what the app gave Twilio) are posted to `baseUrl` instead, signed
   * over the public URL as Twilio signs them.
   */
  routeWebhooks(t: { baseUrl: string; publicUrl: string }): void;
  /** Plays a call's life (see {@link CallScenario}), posting signed status, voice and AMD callbacks in Twilio's order. */
  driveCall(sid: string, scenario: CallScenario): Promise<void>;
  /** Ends a live call (the callee hung up): status `completed` and its callback. */
  hangUp(sid: string): Promise<void>;
  /**
   * Called when a call has been created, before the REST answer is sent (tests kill the caller here: the call
   * exists at Twilio but the client never learns its SID).
   */
  beforeCreateReply: ((call: FakeCall) => void) | null;
  /** When set, every created call is driven with the scenario it returns (null: left queued). */
  autoDrive: ((call: FakeCall) => CallScenario | null) | null;
  /** Every callback posted, in order. */
  callbacks: PostedCallback[];
  close(): Promise<void>;
}

const API = '2010-04-01';
const TERMINAL = new Set(['completed', 'busy', 'no-answer', 'failed', 'canceled']);

function parseForm(raw: string): FormBody {
  const out: FormBody = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

function first(v: FormValue | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isPhoneOrClient(s: string): boolean {
  return /^\+[1-9]\d{6,14}$/.test(s) || /^(client|sip):\S+$/.test(s);
}

function friendly(e164: string): string {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return m ? `(${m[1]}) ${m[2]}-${m[3]}` : e164;
}

export async function startFakeTwilioRest(opts: FakeTwilioRestOptions): Promise<FakeTwilioRest> {
  const { accountSid, authToken } = opts;
  const requests: RecordedTwilioRequest[] = [];
  const calls = new Map<string, FakeCall>();
  const numbers = new Map<string, FakeNumber>();
  const faults: Array<{ status: number; err?: TwilioErrorSpec }> = [];
  const base = `/${API}/Accounts/${accountSid}`;

  const callJson = (c: FakeCall): Record<string, unknown> => ({
    sid: c.sid,
    account_sid: accountSid,
    parent_call_sid: null,
    date_created: rfc2822(c.dateCreated),
    date_updated: rfc2822(c.dateUpdated),
    to: c.to,
    to_formatted: friendly(c.to),
    from: c.from,
    from_formatted: friendly(c.from),
    phone_number_sid: [...numbers.values()].find((n) => n.phoneNumber === c.from)?.sid ?? null,
    status: c.status,
    start_time: c.startTime ? rfc2822(c.startTime) : null,
    end_time: c.endTime ? rfc2822(c.endTime) : null,
    duration: c.duration === null ? null : String(c.duration),
    price: null,
    price_unit: 'USD',
    direction: c.direction,
    answered_by: c.answeredBy,
    api_version: API,
    forwarded_from: null,
    group_sid: null,
    caller_name: null,
    queue_time: '0',
    trunk_sid: null,
    uri: `${base}/Calls/${c.sid}.json`,
    subresource_uris: {
      notifications: `${base}/Calls/${c.sid}/Notifications.json`,
      recordings: `${base}/Calls/${c.sid}/Recordings.json`,
      streams: `${base}/Calls/${c.sid}/Streams.json`,
    },
  });

  const numberJson = (n: FakeNumber): Record<string, unknown> => ({
    account_sid: accountSid,
    address_requirements: 'none',
    address_sid: null,
    api_version: API,
    beta: false,
    bundle_sid: null,
    capabilities: { voice: true, sms: true, mms: true, fax: false },
    date_created: rfc2822(n.dateCreated),
    date_updated: rfc2822(n.dateUpdated),
    emergency_address_sid: null,
    emergency_address_status: 'unregistered',
    emergency_status: 'Inactive',
    friendly_name: n.friendlyName,
    identity_sid: null,
    origin: 'twilio',
    phone_number: n.phoneNumber,
    sid: n.sid,
    sms_application_sid: '',
    sms_fallback_method: 'POST',
    sms_fallback_url: '',
    sms_method: 'POST',
    sms_url: '',
    status: 'in-use',
    status_callback: n.statusCallback,
    status_callback_method: n.statusCallbackMethod,
    trunk_sid: null,
    uri: `${base}/IncomingPhoneNumbers/${n.sid}.json`,
    voice_application_sid: '',
    voice_caller_id_lookup: false,
    voice_fallback_method: n.voiceFallbackMethod,
    voice_fallback_url: n.voiceFallbackUrl,
    voice_method: n.voiceMethod,
    voice_receive_mode: 'voice',
    voice_url: n.voiceUrl,
    subresource_uris: { assigned_add_ons: `${base}/IncomingPhoneNumbers/${n.sid}/AssignedAddOns.json` },
  });

  const addNumber: FakeTwilioRest['addNumber'] = (phoneNumber, init = {}) => {
    const existing = [...numbers.values()].find((n) => n.phoneNumber === phoneNumber);
    if (existing) return existing;
    const now = new Date();
    const n: FakeNumber = {
      sid: newSid('PN'),
      phoneNumber,
      friendlyName: init.friendlyName ?? friendly(phoneNumber),
      voiceUrl: init.voiceUrl ?? '',
      voiceMethod: init.voiceMethod ?? 'POST',
      statusCallback: init.statusCallback ?? '',
      statusCallbackMethod: init.statusCallbackMethod ?? 'POST',
      voiceFallbackUrl: '',
      voiceFallbackMethod: 'POST',
      dateCreated: now,
      dateUpdated: now,
    };
    numbers.set(n.sid, n);
    return n;
  };

  const setCallStatus: FakeTwilioRest['setCallStatus'] = (sid, status, answeredBy) => {
    const c = calls.get(sid);
    if (!c) throw new Error(`fake twilio: no call ${sid}`);
    const now = new Date();
    if (status === 'in-progress' && !c.startTime) c.startTime = now;
    if (TERMINAL.has(status) && !c.endTime) {
      c.endTime = now;
      c.duration = c.startTime ? Math.round((now.getTime() - c.startTime.getTime()) / 1000) : 0;
    }
    if (answeredBy !== undefined) c.answeredBy = answeredBy;
    c.status = status;
    c.dateUpdated = now;
    return c;
  };

  // Callbacks a request causes are posted after its reply (Twilio answers the REST call first).
  const afterReply: (() => Promise<void>)[] = [];
  const callbacks: PostedCallback[] = [];
  const auto: { drive: ((call: FakeCall) => CallScenario | null) | null; beforeReply: ((call: FakeCall) => void) | null } = { drive: null, beforeReply: null };
  let target: { baseUrl: string; publicUrl: string } | null = null;
  const seq = new Map<string, number>();

  async function post(call: FakeCall, kind: PostedCallback['kind'], url: string | undefined, params: WebhookParams): Promise<PostedCallback | null> {
    if (!url || !target || !url.startsWith(target.publicUrl)) return null;
    const res = await postWebhook({ baseUrl: target.baseUrl, publicUrl: target.publicUrl, path: url.slice(target.publicUrl.length), params, authToken });
    const cb: PostedCallback = { callSid: call.sid, kind, params, status: res.status, body: res.body, at: Date.now() };
    callbacks.push(cb);
    return cb;
  }
  const events = (call: FakeCall): string[] => {
    const e = call.params.StatusCallbackEvent;
    return e === undefined ? [] : Array.isArray(e) ? e : [e];
  };
  /** Status callbacks for the events the create request subscribed to; the final one is always sent. */
  async function postStatus(call: FakeCall, status: string): Promise<void> {
    const event = status === 'in-progress' ? 'answered' : TERMINAL.has(status) ? 'completed' : status;
    if (event !== 'completed' && !events(call).includes(event)) return;
    const n = (seq.get(call.sid) ?? -1) + 1;
    seq.set(call.sid, n);
    const duration = TERMINAL.has(status) ? call.duration ?? 0 : undefined;
    await post(call, 'status', first(call.params.StatusCallback), statusCallbackParams({
      accountSid, callSid: call.sid, from: call.from, to: call.to, callStatus: status, sequenceNumber: n,
      ...(duration !== undefined ? { callDuration: duration } : {}),
    }));
  }
  async function driveCall(sid: string, sc: CallScenario): Promise<void> {
    const call = calls.get(sid);
    if (!call) throw new Error(`fake twilio: no call ${sid}`);
    setCallStatus(sid, 'initiated');
    await postStatus(call, 'initiated');
    setCallStatus(sid, 'ringing');
    await postStatus(call, 'ringing');
    if (sc.answer === 'none') {
      setCallStatus(sid, sc.status);
      await postStatus(call, sc.status);
      return;
    }
    setCallStatus(sid, 'in-progress');
    await postStatus(call, 'in-progress');
    // The answered call fetches its instructions; with async AMD the verdict follows on its own callback.
    const url = first(call.params.Url);
    if (url) await post(call, 'voice', url, voiceWebhookParams({ accountSid, callSid: sid, from: call.from, to: call.to, callStatus: 'in-progress', direction: 'outbound-api' }));
    if (first(call.params.MachineDetection) && first(call.params.AsyncAmd) === 'true') {
      const answeredBy = sc.answer === 'machine' ? sc.answeredBy ?? 'machine_end_beep' : sc.answer;
      call.answeredBy = answeredBy;
      await post(call, 'amd', first(call.params.AsyncAmdStatusCallback), amdCallbackParams({ accountSid, callSid: sid, answeredBy }));
    }
  }
  async function runAfterReply(): Promise<void> {
    for (const fn of afterReply.splice(0)) await fn().catch(() => { /* the app was gone: Twilio would log a webhook error */ });
  }

  type Reply = { status: number; body: unknown };
  const err = (status: number, code: number, message: string): Reply => ({
    status,
    body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
  });
  const notFound = (path: string): Reply => err(404, 20404, `The requested resource ${path} was not found`);

  const recordings = new Map<string, { callSid: string; audio: Buffer; durationSec: number }>();
  const mediaFetches: { path: string; status: number }[] = [];

  /** `GET …/Recordings/RE….wav|.mp3`: the media itself (binary, not JSON), or undefined for any other path. */
  function media(method: string, path: string): { status: number; type: string; body: Buffer } | undefined {
    const m = new RegExp(`^${base}/Recordings/(RE[0-9a-f]{32})\\.(wav|mp3)$`).exec(path);
    if (!m || method !== 'GET') return undefined;
    const rec = recordings.get(m[1]!);
    if (!rec) return { status: 404, type: 'application/json', body: Buffer.from(JSON.stringify(notFound(path).body)) };
    return { status: 200, type: m[2] === 'wav' ? 'audio/x-wav' : 'audio/mpeg', body: rec.audio };
  }

  function route(method: string, path: string, query: Record<string, string>, form: FormBody): Reply {
    if (!path.startsWith(`${base}/`)) return notFound(path);
    const rest = path.slice(base.length);

    if (rest === '/Calls.json' && method === 'POST') {
      const to = first(form.To);
      const from = first(form.From);
      if (!to) return err(400, 21201, "No 'To' number is specified");
      if (!from) return err(400, 21213, "No 'From' number is specified");
      if (!isPhoneOrClient(to)) return err(400, 21211, `Invalid 'To' Phone Number: ${to}`);
      if (!isPhoneOrClient(from)) return err(400, 21212, `Invalid 'From' Phone Number: ${from}`);
      if (!form.Url && !form.Twiml && !form.ApplicationSid) return err(400, 21205, 'Url parameter is required.');
      const twiml = first(form.Twiml);
      if (twiml !== undefined && twiml.length > 4000) return err(400, 21232, 'Twiml exceeds the 4000 character limit.');
      if (opts.requireOwnedFrom && ![...numbers.values()].some((n) => n.phoneNumber === from)) {
        return err(400, 21210, `The source phone number provided, ${from}, is not yet verified for your account.`);
      }
      const now = new Date();
      const call: FakeCall = {
        sid: newSid('CA'), to, from, status: 'queued', direction: 'outbound-api', dateCreated: now, dateUpdated: now,
        startTime: null, endTime: null, duration: null, answeredBy: null, params: form, updates: [],
      };
      calls.set(call.sid, call);
      auto.beforeReply?.(call);
      const scenario = auto.drive?.(call);
      if (scenario) afterReply.push(() => driveCall(call.sid, scenario));
      return { status: 201, body: callJson(call) };
    }

    if (rest === '/Calls.json' && method === 'GET') {
      // Newest first, as Twilio lists; To/From exact, StartTime filters on start_time (unset while queued).
      const pageSize = Number(query.PageSize ?? '50') || 50;
      let list = [...calls.values()].reverse();
      if (query.To) list = list.filter((c) => c.to === query.To);
      if (query.From) list = list.filter((c) => c.from === query.From);
      if (query.Status) list = list.filter((c) => c.status === query.Status);
      const after = query['StartTime>'];
      if (after) list = list.filter((c) => c.startTime && c.startTime.getTime() >= new Date(after).getTime());
      const shown = list.slice(0, pageSize);
      const uri = `${base}/Calls.json?PageSize=${pageSize}&Page=0`;
      return {
        status: 200,
        body: { first_page_uri: uri, end: Math.max(0, shown.length - 1), previous_page_uri: null, calls: shown.map(callJson), uri, page_size: pageSize, start: 0, next_page_uri: null, page: 0 },
      };
    }

    const callMatch = /^\/Calls\/([^/]+)\.json$/.exec(rest);
    if (callMatch) {
      const call = calls.get(callMatch[1]!);
      if (!call) return notFound(path);
      if (method === 'GET') return { status: 200, body: callJson(call) };
      if (method === 'POST') {
        call.updates.push(form);
        const status = first(form.Status);
        if (status !== undefined) {
          if (status !== 'completed' && status !== 'canceled') return err(400, 21218, `Invalid Status: ${status}`);
          // A call that already ended keeps its final status, as on Twilio.
          if (!TERMINAL.has(call.status)) { setCallStatus(call.sid, status); afterReply.push(() => postStatus(call, status)); }
        }
        const twiml = first(form.Twiml);
        if (twiml !== undefined) {
          if (TERMINAL.has(call.status)) return err(400, 21220, 'Call is not in-progress. Cannot redirect.');
          // New instructions replace the running ones (a media stream ends); TwiML ending in <Hangup/> completes the call once played.
          if (/<Hangup\s*\/>\s*<\/Response>\s*$/.test(twiml)) {
            setCallStatus(call.sid, 'completed');
            afterReply.push(() => postStatus(call, 'completed'));
          }
        }
        call.dateUpdated = new Date();
        return { status: 200, body: callJson(call) };
      }
      if (method === 'DELETE') {
        calls.delete(call.sid);
        return { status: 204, body: undefined };
      }
      return err(405, 20004, 'Method not allowed');
    }

    if (rest === '/IncomingPhoneNumbers.json' && method === 'GET') {
      const pageSize = Number(query.PageSize ?? '50') || 50;
      let list = [...numbers.values()];
      if (query.PhoneNumber) list = list.filter((n) => n.phoneNumber.includes(query.PhoneNumber!));
      if (query.FriendlyName) list = list.filter((n) => n.friendlyName === query.FriendlyName);
      const shown = list.slice(0, pageSize);
      const uri = `${base}/IncomingPhoneNumbers.json?PageSize=${pageSize}&Page=0`;
      return {
        status: 200,
        body: {
          first_page_uri: uri,
          end: Math.max(0, shown.length - 1),
          previous_page_uri: null,
          incoming_phone_numbers: shown.map(numberJson),
          uri,
          page_size: pageSize,
          start: 0,
          next_page_uri: null,
          page: 0,
        },
      };
    }

    const numMatch = /^\/IncomingPhoneNumbers\/([^/]+)\.json$/.exec(rest);
    if (numMatch) {
      const num = numbers.get(numMatch[1]!);
      if (!num) return notFound(path);
      if (method === 'GET') return { status: 200, body: numberJson(num) };
      if (method === 'POST') {
        const set = (key: string, apply: (v: string) => void): void => {
          const v = first(form[key]);
          if (v !== undefined) apply(v);
        };
        set('VoiceUrl', (v) => (num.voiceUrl = v));
        set('VoiceMethod', (v) => (num.voiceMethod = v));
        set('StatusCallback', (v) => (num.statusCallback = v));
        set('StatusCallbackMethod', (v) => (num.statusCallbackMethod = v));
        set('VoiceFallbackUrl', (v) => (num.voiceFallbackUrl = v));
        set('VoiceFallbackMethod', (v) => (num.voiceFallbackMethod = v));
        set('FriendlyName', (v) => (num.friendlyName = v));
        num.dateUpdated = new Date();
        return { status: 200, body: numberJson(num) };
      }
      return err(405, 20004, 'Method not allowed');
    }
    return notFound(path);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const method = req.method ?? 'GET';
      const form = parseForm(Buffer.concat(chunks).toString('utf8'));
      const query = Object.fromEntries(url.searchParams.entries());
      let reply: Reply;
      const auth = req.headers.authorization ?? '';
      const expected = 'Basic ' + Buffer.from(`${accountSid}:${authToken}`).toString('base64');
      const file = auth === expected ? media(method, url.pathname) : undefined;
      if (file || /\/Recordings\/[^/]+\.(wav|mp3)$/.test(url.pathname)) mediaFetches.push({ path: url.pathname, status: file?.status ?? 401 });
      if (file) {
        requests.push({ method, path: url.pathname, query, form, headers: req.headers, status: file.status });
        res.writeHead(file.status, { 'content-type': file.type, 'content-length': file.body.length });
        res.end(file.body);
        return;
      }
      if (auth !== expected) {
        reply = err(401, 20003, 'Authenticate');
      } else {
        const fault = faults.shift();
        reply = fault
          ? err(fault.status, fault.err?.code ?? (fault.status === 429 ? 20429 : fault.status >= 500 ? 20500 : 20001), fault.err?.message ?? 'Injected failure')
          : route(method, url.pathname, query, form);
      }
      requests.push({ method, path: url.pathname, query, form, headers: req.headers, status: reply.status });
      if (reply.body === undefined) {
        res.writeHead(reply.status);
        res.end();
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', 'twilio-request-id': newSid('RQ') });
      res.end(JSON.stringify(reply.body));
      void runAfterReply();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    requests,
    calls,
    get lastCall() {
      let last: FakeCall | undefined;
      for (const c of calls.values()) last = c;
      return last;
    },
    numbers,
    addNumber,
    failNext(status, e) {
      faults.push({ status, err: e });
    },
    setCallStatus,
    routeWebhooks(t) { target = { baseUrl: t.baseUrl.replace(/\/$/, ''), publicUrl: t.publicUrl.replace(/\/$/, '') }; },
    driveCall,
    async hangUp(sid) {
      const call = calls.get(sid);
      if (!call || TERMINAL.has(call.status)) return;
      setCallStatus(sid, 'completed');
      await postStatus(call, 'completed');
    },
    get beforeCreateReply() { return auto.beforeReply; },
    set beforeCreateReply(fn) { auto.beforeReply = fn; },
    get autoDrive() { return auto.drive; },
    set autoDrive(fn) { auto.drive = fn; },
    callbacks,
    callJson,
    numberJson,
    addRecording(o) {
      const sid = newSid('RE');
      recordings.set(sid, { callSid: o.callSid, audio: o.audio, durationSec: o.durationSec ?? 5 });
      return { sid, recordingUrl: `https://api.twilio.com${base}/Recordings/${sid}` };
    },
    mediaFetches,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
