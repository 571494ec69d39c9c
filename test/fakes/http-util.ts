/**
 * Shared plumbing for the loopback fake servers in test/fakes.
 *
 * Everything here is protocol-neutral: each fake decides its own routes, auth and error bodies,
 * and uses these helpers only for the parts every HTTP fake repeats (bounded body reading, JSON
 * replies, request recording, fault injection, and a close() that never hangs on a held-open
 * request). Keep it free of vendor knowledge so any fake in this folder can import it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Default cap for request bodies: large enough for any realistic API call, small enough to catch runaway clients. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Thrown by the body readers; `status` is what the fake should answer with. */
export class HttpBodyError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413,
  ) {
    super(message);
    this.name = 'HttpBodyError';
  }
}

/**
 * Reads the whole request body, rejecting with HttpBodyError(413) beyond `limit` bytes.
 * The remainder is drained rather than the socket destroyed, so the client still sees the 413.
 */
export function readBody(req: http.IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new HttpBodyError(`request body exceeds ${limit} bytes`, 413));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

/** Parses a raw body as JSON. Empty body → undefined; malformed → HttpBodyError(400). */
export function parseJsonBody(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpBodyError(`invalid JSON body: ${(err as Error).message}`, 400);
  }
}

/** Parses an application/x-www-form-urlencoded body with WHATWG rules (`+` is a space). */
export function parseFormBody(raw: Buffer | string): URLSearchParams {
  return new URLSearchParams(typeof raw === 'string' ? raw : raw.toString('utf8'));
}

export async function readJson(req: http.IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<unknown> {
  return parseJsonBody(await readBody(req, limit));
}

export async function readForm(req: http.IncomingMessage, limit = DEFAULT_BODY_LIMIT): Promise<URLSearchParams> {
  return parseFormBody(await readBody(req, limit));
}

/** True once the response can no longer be written (client gone, server closed, or already answered). */
export function isResponseDone(res: http.ServerResponse): boolean {
  return res.writableEnded || res.destroyed;
}

/** Sends `body` as JSON. A no-op when the response is already finished, so late timers cannot crash a test. */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (isResponseDone(res)) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: http.ServerResponse,
  status: number,
  text: string,
  contentType = 'text/plain; charset=utf-8',
  headers: Record<string, string> = {},
): void {
  if (isResponseDone(res)) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Status with no body at all (no content-type), e.g. 204 for deletes. */
export function sendEmpty(res: http.ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (isResponseDone(res)) return;
  res.writeHead(status, headers);
  res.end();
}

/** One request as a fake saw it. `query` is decoded (WHATWG rules); repeated keys keep the last value, `queryAll` keeps all. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, still percent-encoded as sent. */
  path: string;
  query: Record<string, string>;
  queryAll: Record<string, string[]>;
  headers: http.IncomingHttpHeaders;
  /** Parsed body: JSON value, form fields as a plain object, or undefined when empty. */
  body: unknown;
  rawBody: string;
  /** Date.now() when the request arrived. */
  at: number;
}

export function recordRequest(req: http.IncomingMessage, url: URL, rawBody: Buffer | string, body: unknown): RecordedRequest {
  const query: Record<string, string> = {};
  const queryAll: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) {
    query[k] = v;
    (queryAll[k] ??= []).push(v);
  }
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query,
    queryAll,
    headers: req.headers,
    body,
    rawBody: typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'),
    at: Date.now(),
  };
}

/** Parses a body by content-type into something worth recording; never throws (bad JSON is kept as raw text). */
export function bodyForRecord(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('application/x-www-form-urlencoded')) return Object.fromEntries(parseFormBody(raw));
  try {
    return parseJsonBody(raw);
  } catch {
    return raw.toString('utf8');
  }
}

export function requestUrl(req: http.IncomingMessage): URL {
  // The host is irrelevant for routing; a fixed base keeps URL parsing total even without a Host header.
  return new URL(req.url ?? '/', 'http://127.0.0.1');
}

export function bearerToken(req: http.IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1]?.trim();
}

/** Plain promise delay. The timer stays ref'd: a test awaiting it with no other handle open must not see the process exit. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------------

/** What a fake should do instead of (or before) serving a request. */
export type FaultAction =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Never answer; the client must time out. The socket is released by close(). */
  | { kind: 'hang' }
  /** Destroy the socket without a response (ECONNRESET on the client). */
  | { kind: 'reset' };

export interface FaultMatch {
  method?: string;
  /** Exact path, or a RegExp tested against the path. */
  path?: string | RegExp;
}

export type DownMode = 'error' | 'timeout' | 'reset';

interface Rule {
  remaining: number;
  action: FaultAction;
  match: FaultMatch | undefined;
}

function matches(m: FaultMatch | undefined, method: string, path: string): boolean {
  if (!m) return true;
  if (m.method && m.method.toUpperCase() !== method.toUpperCase()) return false;
  if (m.path !== undefined) {
    if (typeof m.path === 'string' ? m.path !== path : !m.path.test(path)) return false;
  }
  return true;
}

/**
 * Per-fake fault plan. Fakes call `take()` once per eligible request and act on the result;
 * they decide which routes are eligible and how a bare status is rendered in their protocol.
 */
export class FaultInjector {
  private down: { mode: DownMode; status: number } | undefined;
  private rules: Rule[] = [];
  private latencyMs = 0;

  /** Every eligible request fails: 'error' answers `status` (default 503), 'timeout' hangs, 'reset' drops the socket. */
  setDown(down: boolean, mode: DownMode = 'error', status = 503): void {
    this.down = down ? { mode, status } : undefined;
  }

  get isDown(): boolean {
    return this.down !== undefined;
  }

  /** The next `n` eligible (and matching) requests answer `status`, with an optional protocol body override. */
  failNext(n: number, status: number, opts: { body?: unknown; headers?: Record<string, string>; match?: FaultMatch } = {}): void {
    this.rules.push({ remaining: n, action: { kind: 'status', status, body: opts.body, headers: opts.headers }, match: opts.match });
  }

  /** The next `n` eligible (and matching) requests never get an answer. */
  hangNext(n: number, match?: FaultMatch): void {
    this.rules.push({ remaining: n, action: { kind: 'hang' }, match });
  }

  /** The next `n` eligible (and matching) requests get their socket destroyed. */
  resetNext(n: number, match?: FaultMatch): void {
    this.rules.push({ remaining: n, action: { kind: 'reset' }, match });
  }

  /** Delay added before every eligible response (0 disables). */
  setLatency(ms: number): void {
    this.latencyMs = Math.max(0, ms);
  }

  get latency(): number {
    return this.latencyMs;
  }

  /** Clears down state, queued faults and latency. */
  reset(): void {
    this.down = undefined;
    this.rules = [];
    this.latencyMs = 0;
  }

  /** Consumes and returns the fault for this request, if any. */
  take(method: string, path: string): FaultAction | undefined {
    if (this.down) {
      if (this.down.mode === 'timeout') return { kind: 'hang' };
      if (this.down.mode === 'reset') return { kind: 'reset' };
      return { kind: 'status', status: this.down.status };
    }
    const idx = this.rules.findIndex((r) => r.remaining > 0 && matches(r.match, method, path));
    if (idx < 0) return undefined;
    const rule = this.rules[idx]!;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(idx, 1);
    return rule.action;
  }
}

/**
 * Applies a non-status fault. Returns true when the request has been dealt with (hung or reset),
 * so the caller must not answer it.
 */
export function applyTransportFault(req: http.IncomingMessage, action: FaultAction): boolean {
  if (action.kind === 'hang') {
    // Keep reading so the client is not back-pressured; the answer simply never comes.
    req.resume();
    return true;
  }
  if (action.kind === 'reset') {
    req.socket.destroy();
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Server lifecycle
// ---------------------------------------------------------------------------------------------

export interface LoopbackServer {
  server: http.Server;
  /** `http://127.0.0.1:<port>` with no trailing slash. */
  url: string;
  port: number;
  /** Stops listening and destroys every open socket, including requests deliberately left hanging. */
  close(): Promise<void>;
}

/**
 * Starts `handler` on 127.0.0.1 with an OS-assigned port. Handler rejections become a 500 with a
 * plain-text body (and are printed), so a bug in a fake surfaces instead of hanging the client.
 */
export async function startLoopbackServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void,
): Promise<LoopbackServer> {
  const server = http.createServer((req, res) => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        console.error('[fake server] handler crashed:', err);
        sendText(res, 500, `fake server crashed: ${String(err)}`);
      });
  });
  // Keep-alive sockets from SDK agents would otherwise hold close() open.
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
