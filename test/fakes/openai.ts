// Fake OpenAI Chat Completions server (protocols.md §1). Speaks the SSE grammar the real `openai` SDK
// parses, so the product's LLM plugin is tested unmodified with baseURL pointed here.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { sleep } from './http-util.js';
import { until } from '../helpers/until.js';

export interface FakeToolCall {
  name: string;
  /** An object is JSON-encoded; a string is sent verbatim (use it to send malformed JSON). */
  arguments: unknown;
  /** Defaults to a generated `call_…` id. */
  id?: string;
}

export interface FakeTurnError {
  status: number;
  message: string;
  /** Defaults by status: 429 `requests`, 5xx `server_error`, else `invalid_request_error`. */
  type?: string;
  code?: string | null;
}

/** One scripted model turn. `text` and `toolCalls` may be combined (content first). */
export interface FakeTurn {
  text?: string;
  toolCalls?: FakeToolCall[];
  /** Answer with an HTTP error instead of a completion. */
  error?: FakeTurnError;
  /** Defaults to `tool_calls` when toolCalls are present, else `stop`. */
  finishReason?: 'stop' | 'length' | 'content_filter' | 'tool_calls';
  /** Delay between SSE chunks (overrides the server option). */
  chunkDelayMs?: number;
  /** Delay between the response headers and the first chunk (overrides the server option). */
  firstTokenDelayMs?: number;
  /** Words per content chunk (overrides the server option). */
  wordsPerChunk?: number;
  /** Stream model-like tokens (~4 characters each, see {@link chunkTokens}) instead of word groups. */
  tokens?: boolean;
  /** After this many SSE events, send `data: {"error":…}` and end (SDK throws APIError mid-stream). */
  streamErrorAfterChunks?: number;
  /** After this many SSE events, destroy the socket without `[DONE]` (the SDK ends quietly). */
  dropAfterChunks?: number;
  /** After this many SSE events, send nothing more and keep the connection open (a stalled generation). */
  stallAfterChunks?: number;
}

export interface ChatMessage {
  role: string;
  content?: unknown;
  tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  name?: string;
  [k: string]: unknown;
}

export interface ChatRequestBody {
  model?: string;
  messages: ChatMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  tools?: unknown[];
  tool_choice?: unknown;
  [k: string]: unknown;
}

export interface RecordedChatRequest {
  /** 0-based order of arrival. */
  index: number;
  body: ChatRequestBody;
  headers: http.IncomingHttpHeaders;
  stream: boolean;
  turn: FakeTurn;
  /** The client closed the connection before the response was complete (barge-in / break / abort). */
  abortedByClient: boolean;
  completed: boolean;
  /** SSE events written (role chunk included, `[DONE]` excluded). */
  chunksSent: number;
  /** The assistant content actually written to the socket before it ended or was aborted. */
  textSent: string;
  /** The `usage` object written to the client (the include_usage chunk, or the non-streamed body's), if it got that far. */
  usageSent?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  startedAt: number;
  endedAt?: number;
}

export type FakeResponder = (body: ChatRequestBody, request: RecordedChatRequest) => FakeTurn | undefined | Promise<FakeTurn | undefined>;

export interface FakeOpenAIOptions {
  /** Required bearer key; when omitted any non-empty `Bearer …` is accepted. */
  apiKey?: string;
  chunkDelayMs?: number;
  firstTokenDelayMs?: number;
  /** Default 2. */
  wordsPerChunk?: number;
  /**
   * Stream model-like tokens (~4 characters each, punctuation its own token, see {@link chunkTokens}) instead
   * of word groups: with `chunkDelayMs: 30` this is a realistic generation speed (~130 characters a second).
   */
  tokens?: boolean;
  /** Text for a turn when the queue is empty and there is no responder. */
  defaultText?: string;
  /** Reported back in chunks when the request has no `model`. */
  model?: string;
}

export interface FakeOpenAI {
  /** `http://127.0.0.1:<port>`; give the SDK `baseURL: url + '/v1'`. */
  url: string;
  requests: RecordedChatRequest[];
  /** Requests whose response the client aborted. */
  readonly aborted: number;
  readonly lastRequest: RecordedChatRequest | undefined;
  /** Queue turns, consumed one per request, before the responder is asked. */
  enqueue(...turns: FakeTurn[]): void;
  /** Decide the turn from the request body when the queue is empty; `undefined` → default text. Pass null to remove. */
  respond(fn: FakeResponder | null): void;
  /** Number of turns still queued. */
  readonly pending: number;
  waitForRequests(n: number, timeoutMs?: number): Promise<RecordedChatRequest>;
  waitForAbort(n?: number, timeoutMs?: number): Promise<void>;
  /** Forget requests and queued turns. */
  reset(): void;
  close(): Promise<void>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errorType(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function sendError(res: http.ServerResponse, err: FakeTurnError): void {
  const body = JSON.stringify({
    error: { message: err.message, type: err.type ?? errorType(err.status), param: null, code: err.code ?? null },
  });
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'x-should-retry': 'false',
    'x-request-id': `req_${randomBytes(12).toString('hex')}`,
  });
  res.end(body);
}

/** Splits text into chunks of `n` words, keeping whitespace so the chunks concatenate to the text exactly. */
export function chunkText(text: string, n: number): string[] {
  const words = text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
  const out: string[] = [];
  for (let i = 0; i < words.length; i += Math.max(1, n)) out.push(words.slice(i, i + Math.max(1, n)).join(''));
  return out;
}

/**
 * Splits text the way a BPE tokenizer roughly does: a word piece of up to 6 letters with its leading space,
 * up to 3 digits, or one punctuation mark. Pieces concatenate to the text exactly; the mean is ~4 characters.
 */
export function chunkTokens(text: string): string[] {
  return text.match(/ ?[\p{L}']{1,6}| ?\p{N}{1,3}| ?[^\s\p{L}\p{N}]|\s+/gu) ?? [];
}

function splitArgs(args: string): string[] {
  if (args.length <= 8) return [args];
  const size = Math.ceil(args.length / 3);
  const out: string[] = [];
  for (let i = 0; i < args.length; i += size) out.push(args.slice(i, i + size));
  return out;
}

function estimateTokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const queue: FakeTurn[] = [];
  let responder: FakeResponder | null = null;
  const requests: RecordedChatRequest[] = [];
  const defaultText = opts.defaultText ?? 'OK.';

  function authError(req: http.IncomingMessage): FakeTurnError | undefined {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer (.+)$/.exec(h) : null;
    if (!m) {
      return {
        status: 401,
        message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        type: 'invalid_request_error',
        code: null,
      };
    }
    if (opts.apiKey !== undefined && m[1] !== opts.apiKey) {
      return { status: 401, message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' };
    }
    return undefined;
  }

  async function pickTurn(body: ChatRequestBody, rec: RecordedChatRequest): Promise<FakeTurn> {
    const queued = queue.shift();
    if (queued) return queued;
    if (responder) {
      const t = await responder(body, rec);
      if (t) return t;
    }
    return { text: defaultText };
  }

  async function handleChat(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      sendError(res, { status: 400, message: 'We could not parse the JSON body of your request.' });
      return;
    }
    if (!isRecord(parsed) || !Array.isArray(parsed.messages)) {
      sendError(res, { status: 400, message: "Missing required parameter: 'messages'.", code: 'missing_required_parameter' });
      return;
    }
    const body = parsed as ChatRequestBody;
    const rec: RecordedChatRequest = {
      index: requests.length,
      body,
      headers: req.headers,
      stream: body.stream === true,
      turn: {},
      abortedByClient: false,
      completed: false,
      chunksSent: 0,
      textSent: '',
      startedAt: Date.now(),
    };
    requests.push(rec);
    res.on('close', () => {
      if (!rec.completed) rec.abortedByClient = true;
      rec.endedAt ??= Date.now();
    });
    const turn = await pickTurn(body, rec);
    rec.turn = turn;

    const firstDelay = turn.firstTokenDelayMs ?? opts.firstTokenDelayMs ?? 0;
    if (turn.error) {
      if (firstDelay > 0) await sleep(firstDelay);
      if (rec.abortedByClient) return;
      rec.completed = true;
      sendError(res, turn.error);
      return;
    }

    const id = `chatcmpl-${randomBytes(12).toString('base64url')}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model ?? opts.model ?? 'gpt-4o-mini';
    const text = turn.text ?? '';
    const toolCalls = (turn.toolCalls ?? []).map((tc) => ({
      id: tc.id ?? `call_${randomBytes(12).toString('base64url')}`,
      name: tc.name,
      args: typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments ?? {}),
    }));
    const finishReason = turn.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    const promptTokens = estimateTokens(JSON.stringify(body.messages));
    const completionTokens = estimateTokens(text + toolCalls.map((t) => t.name + t.args).join(''));
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };

    if (!rec.stream) {
      if (firstDelay > 0) await sleep(firstDelay);
      if (rec.abortedByClient) return;
      const message: Record<string, unknown> = { role: 'assistant', content: text || (toolCalls.length ? null : ''), refusal: null, annotations: [] };
      if (toolCalls.length) {
        message.tool_calls = toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.args } }));
      }
      rec.completed = true;
      rec.textSent = text;
      rec.usageSent = usage;
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_${randomBytes(12).toString('hex')}` });
      res.end(JSON.stringify({
        id, object: 'chat.completion', created, model, system_fingerprint: 'fp_fake',
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
        usage, service_tier: 'default',
      }));
      return;
    }

    const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
    const envelope = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      JSON.stringify({
        id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices,
        ...(includeUsage ? { usage: null } : {}), ...extra,
      });
    const choice = (delta: unknown, finish: string | null = null): unknown[] => [{ index: 0, delta, logprobs: null, finish_reason: finish }];

    // Events are built up front; the content each one carries is kept alongside so an abort can tell
    // exactly which part of the answer reached the client.
    const events: Array<{ data: string; content?: string; usage?: typeof usage }> = [];
    events.push({ data: envelope(choice({ role: 'assistant', content: '', refusal: null })) });
    const pieces = (turn.tokens ?? opts.tokens) ? chunkTokens(text) : chunkText(text, turn.wordsPerChunk ?? opts.wordsPerChunk ?? 2);
    for (const piece of pieces) {
      events.push({ data: envelope(choice({ content: piece })), content: piece });
    }
    toolCalls.forEach((t, index) => {
      events.push({ data: envelope(choice({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] })) });
      for (const piece of splitArgs(t.args)) {
        events.push({ data: envelope(choice({ tool_calls: [{ index, function: { arguments: piece } }] })) });
      }
    });
    events.push({ data: envelope(choice({}, finishReason)) });
    if (includeUsage) events.push({ data: envelope([], { usage }), usage });

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_${randomBytes(12).toString('hex')}`,
    });
    res.flushHeaders();
    if (firstDelay > 0) await sleep(firstDelay);
    const chunkDelay = turn.chunkDelayMs ?? opts.chunkDelayMs ?? 0;
    for (let i = 0; i < events.length; i++) {
      if (rec.abortedByClient || res.destroyed) return;
      if (turn.streamErrorAfterChunks !== undefined && i >= turn.streamErrorAfterChunks) {
        res.write(`data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } })}\n\n`);
        rec.completed = true;
        res.end();
        return;
      }
      if (turn.stallAfterChunks !== undefined && i >= turn.stallAfterChunks) {
        // Hold the response open until the client gives up (abortedByClient is set by the close handler).
        while (!rec.abortedByClient && !res.destroyed) await sleep(20);
        return;
      }
      if (turn.dropAfterChunks !== undefined && i >= turn.dropAfterChunks) {
        rec.completed = true;
        res.destroy();
        return;
      }
      const ev = events[i]!;
      res.write(`data: ${ev.data}\n\n`);
      rec.chunksSent++;
      if (ev.content) rec.textSent += ev.content;
      if (ev.usage) rec.usageSent = ev.usage;
      if (chunkDelay > 0 && i < events.length - 1) await sleep(chunkDelay);
    }
    if (rec.abortedByClient || res.destroyed) return;
    rec.completed = true;
    res.end('data: [DONE]\n\n');
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const auth = authError(req);
      if (auth) return sendError(res, auth);
      if (req.method === 'POST' && url.pathname === '/v1/chat/completions') {
        handleChat(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: unknown) => {
          if (!res.headersSent) sendError(res, { status: 500, message: err instanceof Error ? err.message : String(err) });
          else res.destroy();
        });
        return;
      }
      if (req.method === 'GET' && url.pathname === '/v1/models') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: opts.model ?? 'gpt-4o-mini', object: 'model', created: 1700000000, owned_by: 'system' }] }));
        return;
      }
      sendError(res, { status: 404, message: `Invalid URL (${req.method ?? 'GET'} ${url.pathname})`, code: null });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get aborted() {
      return requests.filter((r) => r.abortedByClient).length;
    },
    get lastRequest() {
      return requests[requests.length - 1];
    },
    get pending() {
      return queue.length;
    },
    enqueue(...turns) {
      queue.push(...turns);
    },
    respond(fn) {
      responder = fn;
    },
    async waitForRequests(n, timeoutMs = 2000) {
      await until(() => requests.length >= n, timeoutMs, `${n} request(s) (have ${requests.length})`);
      return requests[n - 1]!;
    },
    async waitForAbort(n = 1, timeoutMs = 2000) {
      await until(() => requests.filter((r) => r.abortedByClient).length >= n, timeoutMs, `${n} aborted stream(s)`);
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
