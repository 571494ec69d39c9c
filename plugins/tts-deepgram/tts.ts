import { DeepgramClient } from '@deepgram/sdk';
import { PluginError, closeWithGrace, toPluginError, type PluginContext, type TtsProvider, type TtsSession } from '../../core/sdk/index.js';

/** Per-dealership options. The tenant's `agent.voice` overrides `voice` per call. */
export interface TtsDeepgramSettings {
  /** An Aura voice model, e.g. `aura-asteria-en`. */
  voice?: string;
  /** API root (REST and WebSocket); the platform's DEEPGRAM_BASE_URL by default. */
  baseUrl?: string;
}

const PROVIDER = 'deepgram';
const DEFAULT_VOICE = 'aura-asteria-en';
const OPEN_TIMEOUT_MS = 5000;
/** The SDK's own production root, named here so the egress check sees the host the SDK will use. */
const DEEPGRAM_DEFAULT_URL = 'https://api.deepgram.com';
const CLOSE_GRACE_MS = 1000;
/**
 * Aura takes at most 20 Flush messages per 60 s on one socket; over that a Flush is not processed and the
 * server answers with a Warning (developers.deepgram.com/docs/tts-ws-flush), so the audio of that text would
 * never come. One Flush per clause crosses it within a single long answer.
 */
const FLUSH_MAX = 20;
const FLUSH_WINDOW_MS = 60_000;
/**
 * Once half the window's Flushes are used, a Flush waits (a) until the audio already delivered has less than
 * FLUSH_LEAD_MS left to play, which costs the caller nothing, and (b) at least a gap since the last Flush that
 * grows from 0 to FLUSH_GAP_MAX_MS as the budget runs out, which may cost a short pause but never the minute's
 * wait of an exhausted window. Every clause that arrives meanwhile shares the one Flush.
 */
const FLUSH_LEAD_MS = 1000;
const FLUSH_GAP_MAX_MS = 6000;

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
  /** When each Flush within the last window was sent. */
  private readonly flushTimes: number[] = [];
  /** flush() calls not sent yet: the text is at the server, its Flush waits (see pumpFlush). */
  private wanted: number[] = [];
  /** flush() calls covered by the Flush awaiting its Flushed. */
  private inFlight: number[] | null = null;
  private flushTimer: NodeJS.Timeout | undefined;
  /** When the audio delivered so far ends, if played as it arrives (ctx.clock ms). */
  private audioUntil = 0;

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
    this.audioUntil = Math.max(this.audioUntil, this.ctx.clock.now()) + buf.length / 8;
    this.hooks.onAudio(buf);
  }

  /** JSON control messages: Metadata, Flushed, Cleared, Warning. */
  private onControl(m: unknown): void {
    if (this.closed || m instanceof Blob || !isObject(m)) return;
    switch (m.type) {
      case 'Flushed': {
        if (this.discarding) return;
        const done = this.inFlight ?? [];
        this.inFlight = null;
        // One server Flush may cover several flush() calls: each gets its Flushed, in order.
        for (const seq of done) this.hooks.onFlushed(seq);
        this.pumpFlush();
        return;
      }
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
    if (this.flushTimer) { clearTimeout(this.flushTimer); this.flushTimer = undefined; }
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
    this.wanted.push(seq);
    this.pumpFlush();
    return seq;
  }

  /**
   * Sends one Flush for every flush() asked since the last one, once no Flush is awaiting its Flushed (text
   * sent meanwhile is already at the server and joins the next Flush) and the socket's window has room. A
   * burst of short clauses thus costs one Flush per synthesis, not one per clause; audio still arrives in
   * order and complete. Past half the window, FLUSH_LEAD_MS and FLUSH_GAP_MAX_MS space them out; the window
   * check is the hard stop: past it, the Flush waits for the oldest to age out.
   */
  private pumpFlush(): void {
    if (this.inFlight || this.wanted.length === 0 || this.closed || this.closing || this.flushTimer) return;
    const now = this.ctx.clock.now();
    while (this.flushTimes.length > 0 && this.flushTimes[0]! <= now - FLUSH_WINDOW_MS) this.flushTimes.shift();
    let waitMs = 0;
    if (this.flushTimes.length >= FLUSH_MAX) {
      this.ctx.logger.warn({ flushes: this.flushTimes.length }, 'deepgram speak flush limit reached; the next flush waits for the window');
      waitMs = this.flushTimes[0]! + FLUSH_WINDOW_MS - now + 1;
    } else if (this.flushTimes.length >= FLUSH_MAX / 2) {
      const pressure = (this.flushTimes.length - FLUSH_MAX / 2) / (FLUSH_MAX / 2);
      const last = this.flushTimes[this.flushTimes.length - 1]!;
      waitMs = Math.max(this.audioUntil - FLUSH_LEAD_MS - now, last + pressure * FLUSH_GAP_MAX_MS - now);
    }
    if (waitMs > 0) {
      this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.pumpFlush(); }, waitMs);
      this.flushTimer.unref();
      return;
    }
    const batch = this.wanted;
    this.wanted = [];
    if (this.send(() => this.conn.sendFlush({ type: 'Flush' }))) {
      this.inFlight = batch;
      this.flushTimes.push(now);
    }
  }

  clear(): void {
    if (!this.send(() => this.conn.sendClear({ type: 'Clear' }))) return;
    this.discarding = true;
    // Clear drops the server's text and the audio being made: no Flushed comes for what was asked so far.
    this.wanted = [];
    this.inFlight = null;
    this.audioUntil = 0;
    if (this.flushTimer) { clearTimeout(this.flushTimer); this.flushTimer = undefined; }
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
