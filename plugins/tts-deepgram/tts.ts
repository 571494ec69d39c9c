import { DeepgramClient } from '@deepgram/sdk';
import { PluginError, closeWithGrace, toPluginError, type PluginContext, type TtsProvider, type TtsSession } from '../../core/sdk/index.js';
import type { TtsDeepgramSettings } from './index.js';

const PROVIDER = 'deepgram';
const DEFAULT_VOICE = 'aura-asteria-en';
const OPEN_TIMEOUT_MS = 5000;
/** The SDK's own production root, named here so the egress check sees the host the SDK will use. */
const DEEPGRAM_DEFAULT_URL = 'https://api.deepgram.com';
const CLOSE_GRACE_MS = 1000;

type SpeakSocket = Awaited<ReturnType<DeepgramClient['speak']['v1']['connect']>>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function waitOpen(conn: SpeakSocket, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(new PluginError('timeout', 'deepgram speak open aborted', { provider: PROVIDER }));
    const timer = setTimeout(() => finish(new PluginError('timeout', 'deepgram speak open timed out', { provider: PROVIDER })), OPEN_TIMEOUT_MS);
    signal?.addEventListener('abort', onAbort, { once: true });
    conn.waitForOpen().then(() => finish(), (e: unknown) => finish(e));
  });
}

function openError(e: unknown): PluginError {
  const msg = isObject(e) && typeof e.message === 'string' ? e.message : '';
  const m = /Unexpected server response: (\d{3})/.exec(msg);
  if (m) return toPluginError({ status: Number(m[1]) }, PROVIDER);
  return toPluginError(e, PROVIDER);
}

interface SessionHooks {
  onAudio: (chunk: Buffer) => void;
  onFlushed: (sequence: number) => void;
  onError: (e: Error) => void;
}

class DeepgramTtsSession implements TtsSession {
  private seq = 0;
  /** Between clear() and the server's Cleared, whatever arrives was synthesised for the cleared text. */
  private discarding = false;
  /** The SDK's dispatcher was detached: JSON is parsed in attachSocket's listener. */
  private ownJson = false;
  private closing: Promise<void> | undefined;
  private closed = false;
  private started = false;
  private onClosed: (() => void) | undefined;

  constructor(
    private readonly conn: SpeakSocket,
    private readonly hooks: SessionHooks,
    private readonly ctx: PluginContext,
  ) {
    conn.on('message', (m: unknown) => { if (!this.ownJson) this.onControl(m); });
    conn.on('error', (err: Error) => ctx.logger.warn({ err: err.message }, 'deepgram speak socket error'));
    conn.on('close', (ev: unknown) => this.handleClose(ev));
  }

  start(): void { this.started = true; }

  /**
   * Messages straight off the SDK's socket. For each binary message the SDK would build a Blob (a copy into
   * native storage plus an async read to get it back), which at a few hundred calls is a large share of the
   * process's allocations and GC; here audio stays the ArrayBuffer it arrived as, synchronously and in order.
   * The SDK's own dispatcher is detached when present (its JSON then comes through here too); if a future SDK
   * renames it, JSON keeps flowing through `on('message')` and only the Blob cost returns.
   * Registered after connect(), because connect() drops every message listener it didn't add itself.
   */
  attachSocket(): void {
    const sdkDispatch = (this.conn as unknown as { binaryAwareHandler?: unknown }).binaryAwareHandler;
    if (typeof sdkDispatch === 'function') {
      this.conn.socket.removeEventListener('message', sdkDispatch as (ev: MessageEvent) => void);
      this.ownJson = true;
    }
    this.conn.socket.addEventListener('message', (ev: { data: unknown }) => {
      const data = ev.data;
      if (this.closed) return;
      if (typeof data === 'string') {
        if (!this.ownJson) return;
        let msg: unknown;
        try { msg = JSON.parse(data); } catch { this.ctx.logger.warn({}, 'deepgram speak sent a non-JSON text frame'); return; }
        this.onControl(msg);
      } else if (data instanceof ArrayBuffer) {
        this.onAudioChunk(Buffer.from(data));
      } else if (ArrayBuffer.isView(data)) {
        this.onAudioChunk(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      }
    });
  }

  private onAudioChunk(buf: Buffer): void {
    if (this.discarding || buf.length === 0) return;
    this.hooks.onAudio(buf);
  }

  /** JSON control messages: Metadata, Flushed, Cleared, Warning. */
  private onControl(m: unknown): void {
    if (this.closed || m instanceof Blob || !isObject(m)) return;
    switch (m.type) {
      case 'Flushed':
        if (this.discarding) return;
        this.hooks.onFlushed(typeof m.sequence_id === 'number' ? m.sequence_id : -1);
        return;
      case 'Cleared':
        this.discarding = false;
        return;
      case 'Warning':
        this.ctx.logger.warn({ code: m.code, description: m.description }, 'deepgram speak warning');
        return;
      default:
        return;
    }
  }

  private handleClose(ev: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.started) return;
    if (this.closing) {
      this.onClosed?.();
      return;
    }
    const code = isObject(ev) && typeof ev.code === 'number' ? ev.code : 0;
    this.ctx.logger.warn({ code }, 'deepgram speak socket closed unexpectedly');
    this.hooks.onError(new PluginError('connectivity', `deepgram speak socket closed (${code})`, { provider: PROVIDER }));
  }

  private send(fn: () => void): boolean {
    if (this.closed || this.closing) return false;
    try {
      fn();
      return true;
    } catch (e) {
      // The socket is no longer open; its close event reports the failure once.
      this.ctx.logger.debug({ err: (e as Error).message }, 'deepgram speak send on a closed socket');
      return false;
    }
  }

  speak(text: string): void {
    if (text) this.send(() => this.conn.sendText({ type: 'Speak', text }));
  }

  flush(): number {
    const seq = this.seq++;
    this.send(() => this.conn.sendFlush({ type: 'Flush' }));
    return seq;
  }

  clear(): void {
    if (this.send(() => this.conn.sendClear({ type: 'Clear' }))) this.discarding = true;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.closed) return (this.closing = Promise.resolve());
    const g = closeWithGrace({ sendClose: () => this.conn.sendClose({ type: 'Close' }), forceClose: () => this.conn.close(), graceMs: CLOSE_GRACE_MS });
    this.onClosed = g.peerClosed;
    this.closing = g.done;
    return this.closing;
  }
}

/**
 * Egress: REST goes through the SDK's `fetch` option (ctx.egress.fetch, the platform policy per connection). The
 * SDK opens its WebSockets itself with `ws` and passes no agent or lookup through (@deepgram/sdk 5.x: connect()
 * builds `new WebSocket(url, protocols, { headers })`), so before each open the URL is checked with
 * ctx.egress.check: resolved and every address tested. The SDK resolves again when it connects, which leaves a
 * DNS-rebinding window on this one path; a hostile DNS answer inside that window is the residual risk.
 */
export function createDeepgramTts(ctx: PluginContext, settings: TtsDeepgramSettings, apiKey: string | undefined): TtsProvider {
  const baseUrl = settings.baseUrl || DEEPGRAM_DEFAULT_URL;
  const dg = new DeepgramClient({ apiKey: apiKey ?? '', baseUrl: settings.baseUrl || undefined, maxRetries: 0, fetch: ctx.egress.fetch as typeof fetch });
  const noKey = (): PluginError => new PluginError('auth', 'no Deepgram API key configured', { provider: PROVIDER });

  return {
    async open(o) {
      if (!apiKey) throw noKey();
      await ctx.egress.check(baseUrl);
      let conn: SpeakSocket;
      try {
        conn = await dg.speak.v1.connect({
          model: o.voice ?? settings.voice ?? DEFAULT_VOICE,
          encoding: 'mulaw',
          sample_rate: '8000',
          reconnectAttempts: 0,
          connectionTimeoutInSeconds: OPEN_TIMEOUT_MS / 1000,
        });
      } catch (e) {
        throw toPluginError(e, PROVIDER);
      }
      const session = new DeepgramTtsSession(conn, o, ctx);
      conn.connect();
      session.attachSocket();
      try {
        await waitOpen(conn, o.signal);
      } catch (e) {
        conn.close();
        throw openError(e);
      }
      session.start();
      return session;
    },
    async synthesize(o) {
      if (!apiKey) throw noKey();
      try {
        const audio = await dg.speak.v1.audio.generate(
          { text: o.text, model: o.voice ?? settings.voice ?? DEFAULT_VOICE, encoding: 'mulaw', sample_rate: 8000, container: 'none' },
          { abortSignal: o.signal },
        );
        return Buffer.from(await audio.arrayBuffer());
      } catch (e) {
        throw toPluginError(e, PROVIDER);
      }
    },
    // Live sessions belong to their calls, which close them; a config change must not cut a call short.
    async close() {},
  };
}
