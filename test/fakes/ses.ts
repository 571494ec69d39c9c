/**
 * A fake Amazon SES v2 endpoint speaking the HTTP API `@aws-sdk/client-sesv2` calls for SendEmail:
 * `POST /v2/email/outbound-emails` with a JSON body in the API's PascalCase keys, a SigV4 `Authorization`
 * header, and answers `200 {"MessageId"}`. Errors are rendered as SES renders them: the error name in
 * `x-amzn-ErrorType` (`MessageRejected:http://internal.amazon.com/coral/com.amazon.sesv2/`), body
 * `{"message"}`, status 400 (MessageRejected, BadRequestException …), 403 (bad signature), 429 (throttle).
 * Attachments arrive base64 in `RawContent`; the fake decodes them so tests read the `.ics` as text.
 */
import { randomUUID } from 'node:crypto';
import {
  FaultInjector, applyTransportFault, readJson, requestUrl, sendJson, sleep, startLoopbackServer, type DownMode, type FaultMatch,
} from './http-util.js';

export interface SesAttachment { fileName: string; contentType: string; disposition?: string; content: string }

/** One message SES accepted. */
export interface SesReceived {
  messageId: string;
  at: number;
  from: string;
  to: string[];
  replyTo: string[];
  subject: string;
  text: string;
  html?: string;
  attachments: SesAttachment[];
  tags: Record<string, string>;
  /** The access key id named in the SigV4 credential scope. */
  accessKeyId: string;
  region: string;
}

export interface FakeSes {
  url: string;
  received: SesReceived[];
  /** Every request, accepted or not (method, path, had a SigV4 header). */
  requests: { path: string; signed: boolean; status: number }[];
  /** Addresses SES refuses with `MessageRejected` (400), like an unverified address in the sandbox. */
  rejectAddress(address: string): void;
  /** The next `n` sends answer 429 `TooManyRequestsException` "Maximum sending rate exceeded.". */
  throttleNext(n: number): void;
  /** Waits until `n` messages were accepted (fails after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<SesReceived[]>;
  setDown(down: boolean, mode?: DownMode, status?: number): void;
  failNext(n: number, status: number, o?: { body?: unknown; headers?: Record<string, string>; match?: FaultMatch }): void;
  close(): Promise<void>;
}

const ERROR_NAMESPACE = 'http://internal.amazon.com/coral/com.amazon.sesv2/';
/** How SES names errors per status, for faults given only a status. */
const NAME_FOR_STATUS: Record<number, string> = { 400: 'BadRequestException', 403: 'UnrecognizedClientException', 404: 'NotFoundException', 429: 'TooManyRequestsException', 500: 'InternalFailure', 503: 'ServiceUnavailable' };

const SIGV4 = /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)\/(\d{8})\/([a-z0-9-]+)\/ses\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

interface SendBody {
  FromEmailAddress?: string;
  Destination?: { ToAddresses?: string[] };
  ReplyToAddresses?: string[];
  EmailTags?: { Name: string; Value: string }[];
  Content?: {
    Simple?: {
      Subject?: { Data?: string };
      Body?: { Text?: { Data?: string }; Html?: { Data?: string } };
      Attachments?: { FileName?: string; RawContent?: string; ContentType?: string; ContentDisposition?: string }[];
    };
    Raw?: { Data?: string };
  };
}

export async function startFakeSes(o: { accessKeyId?: string } = {}): Promise<FakeSes> {
  const faults = new FaultInjector();
  const received: SesReceived[] = [];
  const requests: FakeSes['requests'] = [];
  const rejected = new Set<string>();
  let throttles = 0;

  function sesError(res: Parameters<typeof sendJson>[0], status: number, name: string, message: string): void {
    sendJson(res, status, { message }, { 'x-amzn-ErrorType': `${name}:${ERROR_NAMESPACE}`, 'x-amzn-RequestId': randomUUID() });
  }

  const srv = await startLoopbackServer(async (req, res) => {
    const url = requestUrl(req);
    const auth = String(req.headers.authorization ?? '');
    const sig = SIGV4.exec(auth);
    const record = (status: number) => requests.push({ path: url.pathname, signed: !!sig, status });
    if (req.method !== 'POST' || url.pathname !== '/v2/email/outbound-emails') {
      record(404);
      return sesError(res, 404, 'NotFoundException', `no route ${req.method ?? ''} ${url.pathname}`);
    }
    const fault = faults.take(req.method, url.pathname);
    if (faults.latency > 0) await sleep(faults.latency);
    if (fault && applyTransportFault(req, fault)) return;
    if (fault?.kind === 'status') {
      record(fault.status);
      const name = NAME_FOR_STATUS[fault.status] ?? 'InternalFailure';
      return sendJson(res, fault.status, fault.body ?? { message: `injected ${name}` }, { 'x-amzn-ErrorType': `${name}:${ERROR_NAMESPACE}`, ...(fault.headers ?? {}) });
    }
    // The SDK always signs; an unsigned request is a client that isn't the SDK (or a misconfigured one).
    if (!sig || !req.headers['x-amz-date'] || (o.accessKeyId && sig[1] !== o.accessKeyId)) {
      record(403);
      return sesError(res, 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
      record(400);
      return sesError(res, 400, 'BadRequestException', 'Content-Type must be application/json');
    }
    const body = (await readJson(req)) as SendBody | undefined;
    if (throttles > 0) {
      throttles--;
      record(429);
      return sesError(res, 429, 'TooManyRequestsException', 'Maximum sending rate exceeded.');
    }
    const to = body?.Destination?.ToAddresses ?? [];
    const simple = body?.Content?.Simple;
    if (!body?.FromEmailAddress || to.length === 0 || (!simple && !body.Content?.Raw)) {
      record(400);
      return sesError(res, 400, 'BadRequestException', 'Missing required field');
    }
    const bad = to.find((a) => rejected.has(a.toLowerCase()));
    if (bad) {
      record(400);
      return sesError(res, 400, 'MessageRejected', `Email address is not verified. The following identities failed the check in region US-EAST-1: ${bad}`);
    }
    const messageId = `0100${Date.now().toString(16)}-${randomUUID()}-000000`;
    received.push({
      messageId, at: Date.now(), from: body.FromEmailAddress, to, replyTo: body.ReplyToAddresses ?? [],
      subject: simple?.Subject?.Data ?? '', text: simple?.Body?.Text?.Data ?? '',
      ...(simple?.Body?.Html?.Data ? { html: simple.Body.Html.Data } : {}),
      attachments: (simple?.Attachments ?? []).map((a) => ({
        fileName: a.FileName ?? '', contentType: a.ContentType ?? '',
        ...(a.ContentDisposition ? { disposition: a.ContentDisposition } : {}),
        content: Buffer.from(a.RawContent ?? '', 'base64').toString('utf8'),
      })),
      tags: Object.fromEntries((body.EmailTags ?? []).map((t) => [t.Name, t.Value])),
      accessKeyId: sig[1]!, region: sig[3]!,
    });
    record(200);
    sendJson(res, 200, { MessageId: messageId }, { 'x-amzn-RequestId': randomUUID() });
  });

  return {
    url: srv.url,
    received,
    requests,
    rejectAddress: (a) => { rejected.add(a.toLowerCase()); },
    throttleNext: (n) => { throttles += n; },
    async waitFor(n, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > until) throw new Error(`fake SES: expected ${n} messages, got ${received.length}`);
        await sleep(10);
      }
      return received;
    },
    setDown: (down, mode, status) => faults.setDown(down, mode, status),
    failNext: (n, status, opts) => faults.failNext(n, status, opts),
    close: () => srv.close(),
  };
}
