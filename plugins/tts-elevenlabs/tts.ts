import WebSocket from 'ws';
import { PluginError, fromHttpStatus, toPluginError, type PluginContext, type TtsProvider, type TtsSession } from '../../core/sdk/index.js';

/** Per-dealership options. The tenant's `agent.voices.<lang>` overrides `voiceId` per call. */
export interface ElevenLabsSettings {
  /** Voice id (default: the stock voice "Rachel"). */
  voiceId?: string;
  /** `eleven_flash_v2_5` (default; ~75 ms, Spanish included), `eleven_turbo_v2_5` or `eleven_multilingual_v2`. */
  modelId?: string;
  /** ISO 639-1 language for the v2.5 models, e.g. `es`. */
  languageCode?: string;
  stability?: number;
  similarityBoost?: number;
  /** 0.7–1.2. */
  speed?: number;
  /** API origin, `https://api.elevenlabs.io` by default (WebSocket derived from it). */
  baseUrl?: string;
}

export const PROVIDER = 'elevenlabs';
export const DEFAULT_BASE_URL = 'https://api.elevenlabs.io';
export const DEFAULT_MODEL = 'eleven_flash_v2_5';
/** "Rachel", a stock voice every account has. */
export const DEFAULT_VOICE = '21m00Tcm4TlvDq8ikWAM';
const OPEN_TIMEOUT_MS = 5000;
/** The socket idles between turns; the server closes after `inactivity_timeout` s (max 180), so keep it below. */
const INACTIVITY_TIMEOUT_SEC = 180;
const KEEPALIVE_MS = 60_000;

function wsUrl(base: string, path: string, query: Record<string, string>): string {
  const u = new URL(path, base.replace(/\/+$/, '') + '/');
  u.protocol = u.protocol === 'https:' ? 'wss:' : u.protocol === 'http:' ? 'ws:' : u.protocol;
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.toString();
}

/**
 * One call's ElevenLabs socket, multi-context: every flushed clause is its own context (`c<seq>`), sent whole,
 * flushed and closed at once, so the server's `isFinal` for that context is the clause's end (`onFlushed`).
 * Contexts generate in parallel, so audio is passed on in flush order: the oldest open clause streams, later
 * ones are held until it is final. Barge-in (`clear`) closes every open context and ignores what still arrives
 * for them, without closing the socket.
 */
class ElevenLabsSession implements TtsSession {
  private text = '';
  private seq = 0;
  /** Flushed clauses waiting for isFinal, oldest first, with audio held for all but the head. */
  private pending: Array<{ seq: number; id: string; held: Buffer[]; final: boolean }> = [];
  private dropped = new Set<string>();
  private closed = false;
  private readonly keepAlive: NodeJS.Timeout;

  constructor(private readonly ws: WebSocket, private readonly o: { settings: ElevenLabsSettings; onAudio: (b: Buffer) => void; onFlushed: (n: number) => void; onError: (e: Error) => void }) {
    ws.on('message', (data) => this.onMessage(String(data)));
    ws.on('close', (code, reason) => {
      clearInterval(this.keepAlive);
      if (!this.closed) {
        this.closed = true;
        const category = code === 1008 ? 'rate_limit' : 'connectivity';
        o.onError(new PluginError(category, `elevenlabs socket closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`, { provider: PROVIDER }));
      }
    });
    ws.on('error', () => undefined); // the close event that follows reports it
    // An empty text on a live context is the documented keep-alive; a throwaway context keeps the socket open.
    this.keepAlive = setInterval(() => this.send({ text: '', context_id: 'keepalive' }), KEEPALIVE_MS);
    this.keepAlive.unref();
  }

  private send(m: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private onMessage(raw: string): void {
    let m: Record<string, unknown>;
    try { m = JSON.parse(raw) as Record<string, unknown>; } catch { return; }
    if (typeof m.error === 'string') {
      this.o.onError(new PluginError(m.error === 'max_active_conversations' ? 'rate_limit' : 'upstream', `elevenlabs error: ${m.error}`, { provider: PROVIDER }));
      return;
    }
    // Newer servers say context_id, older contextId: read both.
    const id = String(m.context_id ?? m.contextId ?? '');
    if (this.dropped.has(id)) { if (m.isFinal === true) this.dropped.delete(id); return; }
    const p = this.pending.find((x) => x.id === id);
    if (!p) return;
    if (typeof m.audio === 'string' && m.audio) {
      const b = Buffer.from(m.audio, 'base64');
      if (this.pending[0] === p) this.o.onAudio(b);
      else p.held.push(b);
    }
    if (m.isFinal === true) {
      p.final = true;
      // The head finished: report it, then release the next clauses' held audio in order.
      while (this.pending[0]?.final) {
        const done = this.pending.shift()!;
        this.o.onFlushed(done.seq);
        const next = this.pending[0];
        if (next) { for (const h of next.held) this.o.onAudio(h); next.held = []; }
      }
    }
  }

  speak(text: string): void {
    this.text += text.endsWith(' ') ? text : `${text} `;
  }

  flush(): number {
    const seq = ++this.seq;
    const id = `c${seq}`;
    const text = this.text;
    this.text = '';
    this.pending.push({ seq, id, held: [], final: false });
    const s = this.o.settings;
    this.send({ text: ' ', context_id: id, voice_settings: { stability: s.stability ?? 0.5, similarity_boost: s.similarityBoost ?? 0.8, speed: s.speed ?? 1 } });
    if (text.trim()) this.send({ text, context_id: id });
    this.send({ context_id: id, flush: true });
    this.send({ context_id: id, close_context: true });
    return seq;
  }

  clear(): void {
    this.text = '';
    for (const p of this.pending) {
      this.dropped.add(p.id);
      this.send({ context_id: p.id, close_context: true });
    }
    this.pending = [];
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearInterval(this.keepAlive);
    return new Promise<void>((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) { resolve(); return; }
      const t = setTimeout(() => { this.ws.terminate(); resolve(); }, 1000);
      t.unref();
      this.ws.once('close', () => { clearTimeout(t); resolve(); });
      this.send({ close_socket: true });
    });
  }
}

export function createElevenLabsTts(ctx: PluginContext, settings: ElevenLabsSettings, apiKey: string): TtsProvider {
  const base = settings.baseUrl ?? DEFAULT_BASE_URL;
  const model = settings.modelId ?? DEFAULT_MODEL;
  return {
    async open(o) {
      o.signal?.throwIfAborted();
      const url = wsUrl(base, `v1/text-to-speech/${encodeURIComponent(o.voice ?? settings.voiceId ?? DEFAULT_VOICE)}/multi-stream-input`, {
        model_id: model, output_format: 'ulaw_8000', inactivity_timeout: String(INACTIVITY_TIMEOUT_SEC),
        ...(settings.languageCode ? { language_code: settings.languageCode } : {}),
      });
      await ctx.egress.check(url.replace(/^ws/, 'http'));
      const ws = new WebSocket(url, { headers: { 'xi-api-key': apiKey }, agent: url.startsWith('wss:') ? ctx.egress.agents.https : ctx.egress.agents.http });
      await new Promise<void>((resolve, reject) => {
        const fail = (e: PluginError) => {
          cleanup();
          // terminate() during the handshake emits one more error; it is this failure, already reported.
          ws.on('error', () => undefined);
          ws.terminate();
          reject(e);
        };
        const timer = setTimeout(() => fail(new PluginError('timeout', 'elevenlabs socket open timed out', { provider: PROVIDER })), OPEN_TIMEOUT_MS);
        const onAbort = () => fail(new PluginError('timeout', 'elevenlabs socket open aborted', { provider: PROVIDER }));
        const cleanup = () => { clearTimeout(timer); o.signal?.removeEventListener('abort', onAbort); ws.off('open', onOpen); ws.off('unexpected-response', onBad); ws.off('error', onErr); };
        const onOpen = () => { cleanup(); resolve(); };
        const onBad = (_req: unknown, res: { statusCode?: number }) => fail(fromHttpStatus(res.statusCode ?? 500, `elevenlabs socket refused (${res.statusCode})`, { provider: PROVIDER }));
        const onErr = (e: Error) => fail(toPluginError(e, PROVIDER));
        o.signal?.addEventListener('abort', onAbort, { once: true });
        ws.on('open', onOpen);
        ws.on('unexpected-response', onBad);
        ws.on('error', onErr);
      });
      return new ElevenLabsSession(ws, { settings, onAudio: o.onAudio, onFlushed: o.onFlushed, onError: o.onError });
    },

    async synthesize(o) {
      o.signal?.throwIfAborted();
      const voice = o.voice ?? settings.voiceId ?? DEFAULT_VOICE;
      let res: Response;
      try {
        res = await ctx.http(`${base.replace(/\/+$/, '')}/v1/text-to-speech/${encodeURIComponent(voice)}/stream?output_format=ulaw_8000`, {
          method: 'POST', signal: o.signal,
          headers: { 'xi-api-key': apiKey, 'content-type': 'application/json', accept: 'audio/basic' },
          body: JSON.stringify({
            text: o.text, model_id: model, ...(settings.languageCode ? { language_code: settings.languageCode } : {}),
            voice_settings: { stability: settings.stability ?? 0.5, similarity_boost: settings.similarityBoost ?? 0.8, speed: settings.speed ?? 1 },
          }),
        });
      } catch (e) {
        throw toPluginError(e, PROVIDER);
      }
      if (!res.ok) {
        const body = await res.json().catch(() => undefined) as { detail?: { status?: string } } | undefined;
        const status = body?.detail?.status;
        if (status === 'quota_exceeded') throw new PluginError('quota', 'elevenlabs character quota exceeded', { provider: PROVIDER, status: res.status });
        throw fromHttpStatus(res.status, `elevenlabs synthesis failed${status ? ` (${status})` : ''}`, { provider: PROVIDER });
      }
      return Buffer.from(await res.arrayBuffer());
    },
  };
}
