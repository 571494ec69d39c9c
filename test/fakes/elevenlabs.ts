/**
 * Loopback fake of ElevenLabs text-to-speech for telephony: the multi-context WebSocket
 * (`/v1/text-to-speech/{voice_id}/multi-stream-input`) and the REST stream endpoint
 * (`POST /v1/text-to-speech/{voice_id}/stream`).
 *
 * Documented (ElevenLabs asyncapi and SDK message types): `xi-api-key` header (or in the first message);
 * query `model_id`, `output_format` (`ulaw_8000` here), `inactivity_timeout`; JSON messages with `text`,
 * `context_id`, `flush`, `close_context`, `close_socket`, first message per context may carry
 * `voice_settings`; server messages `{audio: base64, context_id, normalizedAlignment}` and
 * `{isFinal: true, context_id}`; in-band errors `{error, message}`; a sixth simultaneous context is refused
 * with `max_active_conversations` and close 1008; REST errors `{"detail":{"status","message"}}`.
 * Inferred: text is generated only on `flush` (or when the context closes); `isFinal` for a context comes after
 * all of its flushed audio once it was asked to close (a barge-in client ignores what still arrives).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { readBody, sendJson } from './http-util.js';
import { tone } from './mulaw.js';

export interface FakeElevenLabsOptions {
  apiKey?: string;
  /** Audio per character (ms). Default 60. */
  msPerChar?: number;
  /** Delay from a flush to its first audio message. Default 0. */
  firstByteDelayMs?: number;
  /** Bytes per audio message. Default 1600 (200 ms). */
  chunkBytes?: number;
  chunkIntervalMs?: number;
}

export interface ElevenContextRecord { id: string; texts: string[]; flushes: number; closed: boolean; final: boolean; bytesSent: number }
export interface ElevenSessionRecord { query: Record<string, string>; voiceId: string; contexts: Map<string, ElevenContextRecord>; messages: Array<Record<string, unknown>>; open: boolean }

export interface FakeElevenLabs {
  url: string;
  sessions: ElevenSessionRecord[];
  restRequests: Array<{ voiceId: string; query: Record<string, string>; body: Record<string, unknown> }>;
  refuseUpgrades(status: number | null): void;
  refuseRest(status: number | null): void;
  close(): Promise<void>;
}

export async function startFakeElevenLabs(o: FakeElevenLabsOptions = {}): Promise<FakeElevenLabs> {
  const apiKey = o.apiKey ?? 'el-test-key';
  const msPerChar = o.msPerChar ?? 60;
  const chunkBytes = o.chunkBytes ?? 1600;
  const sessions: ElevenSessionRecord[] = [];
  const restRequests: FakeElevenLabs['restRequests'] = [];
  let refuse: number | null = null;
  let refuseRest: number | null = null;
  const audioFor = (text: string) => tone(Math.max(20, text.trim().length * msPerChar), 300);

  const server = http.createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const m = /^\/v1\/text-to-speech\/([A-Za-z0-9_-]+)\/stream$/.exec(u.pathname);
      if (!m || req.method !== 'POST') { sendJson(res, 404, { detail: { status: 'not_found', message: 'Not found' } }); return; }
      const raw = await readBody(req);
      if (req.headers['xi-api-key'] !== apiKey) { sendJson(res, 401, { detail: { status: 'invalid_api_key', message: 'Invalid API key' } }); return; }
      if (refuseRest) { sendJson(res, refuseRest, { detail: { status: refuseRest === 429 ? 'too_many_concurrent_requests' : 'error', message: 'refused' } }); return; }
      const body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
      restRequests.push({ voiceId: m[1]!, query: Object.fromEntries(u.searchParams), body });
      if (u.searchParams.get('output_format') !== 'ulaw_8000') { sendJson(res, 400, { detail: { status: 'invalid_output_format', message: 'unsupported' } }); return; }
      res.writeHead(200, { 'content-type': 'audio/basic' });
      res.end(audioFor(String(body.text ?? '')));
    })().catch((e: unknown) => { res.statusCode = 500; res.end(String(e)); });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const m = /^\/v1\/text-to-speech\/([A-Za-z0-9_-]+)\/multi-stream-input$/.exec(u.pathname);
    const status = !m ? 404 : req.headers['xi-api-key'] !== apiKey ? 401 : refuse;
    if (status) { socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`); return; }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, { query: Object.fromEntries(u.searchParams), voiceId: m![1]!, contexts: new Map(), messages: [], open: true }));
  });

  function serve(ws: WebSocket, rec: ElevenSessionRecord): void {
    sessions.push(rec);
    const queue: Array<() => Promise<void>> = [];
    let running = false;
    const pump = async () => {
      if (running) return;
      running = true;
      while (queue.length) await queue.shift()!();
      running = false;
    };
    const send = (m: Record<string, unknown>) => { if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m)); };
    const active = () => [...rec.contexts.values()].filter((c) => !c.closed).length;
    const generate = (c: ElevenContextRecord, text: string) => async () => {
      if (o.firstByteDelayMs) await new Promise((r) => setTimeout(r, o.firstByteDelayMs));
      const audio = audioFor(text);
      for (let off = 0; off < audio.length; off += chunkBytes) {
        if (c.final || ws.readyState !== ws.OPEN) return;
        const chunk = audio.subarray(off, off + chunkBytes);
        c.bytesSent += chunk.length;
        send({ audio: chunk.toString('base64'), isFinal: null, normalizedAlignment: { chars: [...text.slice(0, 4)], charStartTimesMs: [0, 10, 20, 30].slice(0, Math.min(4, text.length)), charDurationsMs: [10, 10, 10, 10].slice(0, Math.min(4, text.length)) }, contextId: c.id, context_id: c.id });
        await new Promise((r) => setTimeout(r, o.chunkIntervalMs ?? 5));
      }
    };
    ws.on('message', (data) => {
      let m: Record<string, unknown>;
      try { m = JSON.parse(String(data)) as Record<string, unknown>; } catch { send({ error: 'invalid_message', message: 'not JSON' }); return; }
      rec.messages.push(m);
      if (m.close_socket) { ws.close(1000); return; }
      const id = String(m.context_id ?? 'default');
      let c = rec.contexts.get(id);
      if (!c) {
        if (active() >= 5) { send({ error: 'max_active_conversations', message: 'Maximum simultaneous contexts per WebSocket connection exceeded (5)' }); ws.close(1008, 'max_active_conversations'); return; }
        c = { id, texts: [], flushes: 0, closed: false, final: false, bytesSent: 0 };
        rec.contexts.set(id, c);
      }
      const ctx = c;
      if (typeof m.text === 'string' && m.text.trim()) ctx.texts.push(m.text);
      if (m.flush) {
        ctx.flushes++;
        const text = ctx.texts.join('');
        ctx.texts = [];
        if (text.trim()) { queue.push(generate(ctx, text)); void pump(); }
      }
      if (m.close_context) {
        ctx.closed = true;
        // Audio already queued for the context finishes (then isFinal); nothing more is accepted for it.
        queue.push(async () => { if (!ctx.final) { ctx.final = true; send({ isFinal: true, contextId: ctx.id, context_id: ctx.id }); } });
        void pump();
      }
    });
    ws.on('close', () => { rec.open = false; });
  }

  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, sessions, restRequests,
    refuseUpgrades: (s) => { refuse = s; },
    refuseRest: (s) => { refuseRest = s; },
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
    },
  };
}
