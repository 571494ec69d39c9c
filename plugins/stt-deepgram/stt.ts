import { DeepgramClient } from '@deepgram/sdk';
import { PluginError, closeWithGrace, fromHttpStatus, toPluginError, type PluginContext, type SttProvider, type SttSession, type TranscriptEvent } from '../../core/sdk/index.js';

/** Per-dealership options; every field has a phone-call default. */
export interface SttDeepgramSettings {
  /** Deepgram model for English calls; `nova-2-phonecall` is tuned for 8 kHz phone audio (English only). */
  model?: string;
  /**
   * Model per other language (`{"es": "nova-2"}`), and for `multi`, the multilingual mode a bilingual tenant's
   * calls run in (finals then report their language); `nova-3` by default, which speaks Spanish and `multi`.
   */
  languageModels?: Record<string, string>;
  /** Silence (ms) after which Deepgram marks `speech_final`; 100 by default (core's end-of-turn decision is the patient part). */
  endpointingMs?: number;
  /** Word gap (ms) after which `UtteranceEnd` is sent, the fallback end of turn. */
  utteranceEndMs?: number;
  /** BCP-47 language, e.g. `en-US`. */
  language?: string;
  /** Model for whole recordings (voicemail); `nova-3` by default (multilingual, language detection). */
  prerecordedModel?: string;
  /** API root (REST and WebSocket); the platform's DEEPGRAM_BASE_URL by default. */
  baseUrl?: string;
}

const PROVIDER = 'deepgram';
/** Real Deepgram closes a socket after 10 s without audio or a text frame (NET-0001); docs advise 3–5 s. */
const KEEPALIVE_MS = 4000;
const OPEN_TIMEOUT_MS = 5000;
/** The SDK's own production root, named here so the egress check sees the URL the SDK will use. */
const DEEPGRAM_DEFAULT_URL = 'https://api.deepgram.com';
/** How long close() waits for the server's Metadata + close after CloseStream before dropping the socket. */
const CLOSE_GRACE_MS = 1000;

type ListenSocket = Awaited<ReturnType<DeepgramClient['listen']['v1']['connect']>>;

interface ResultsMessage {
  type: 'Results';
  is_final?: boolean;
  speech_final?: boolean;
  channel?: { alternatives?: Array<ResultsAlternative> };
}

/**
 * With `language=multi` (code-switching), each alternative carries `languages`, the BCP-47 tags it heard sorted
 * by word count, most first, and each word its own `language` (developers.deepgram.com/docs/multilingual-code-switching;
 * @deepgram/sdk `ListenV1Results`). Monolingual sessions send neither.
 */
interface ResultsAlternative {
  transcript?: string;
  languages?: unknown;
  words?: Array<{ language?: unknown }>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/**
 * The dominant language of a multilingual result: the first of `languages`, else the most frequent word
 * `language` (the same ordering, in case a result has word tags only). Undefined when Deepgram reported none.
 */
export function dominantLanguage(alt: ResultsAlternative | undefined): string | undefined {
  const first = Array.isArray(alt?.languages) ? (alt.languages as unknown[])[0] : undefined;
  if (typeof first === 'string' && first) return first;
  const counts = new Map<string, number>();
  for (const w of alt?.words ?? []) if (typeof w.language === 'string' && w.language) counts.set(w.language, (counts.get(w.language) ?? 0) + 1);
  let best: string | undefined;
  for (const [lang, n] of counts) if (best === undefined || n > counts.get(best)!) best = lang;
  return best;
}

/** Maps one listen message to our event; Metadata and unknown types map to nothing. */
export function mapListenMessage(m: unknown): TranscriptEvent | undefined {
  if (!isObject(m)) return undefined;
  switch (m.type) {
    case 'Results': {
      const r = m as unknown as ResultsMessage;
      const alt = r.channel?.alternatives?.[0];
      const text = alt?.transcript ?? '';
      if (r.is_final) {
        const language = text ? dominantLanguage(alt) : undefined;
        return { type: 'final', text, speechFinal: r.speech_final === true, ...(language ? { language } : {}) };
      }
      return text ? { type: 'interim', text } : undefined;
    }
    case 'SpeechStarted':
      return { type: 'speech_started' };
    case 'UtteranceEnd':
      return { type: 'utterance_end' };
    default:
      return undefined;
  }
}

function waitOpen(conn: ListenSocket, signal: AbortSignal | undefined): Promise<void> {
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
    const onAbort = (): void => finish(new PluginError('timeout', 'deepgram listen open aborted', { provider: PROVIDER }));
    const timer = setTimeout(() => finish(new PluginError('timeout', 'deepgram listen open timed out', { provider: PROVIDER })), OPEN_TIMEOUT_MS);
    signal?.addEventListener('abort', onAbort, { once: true });
    conn.waitForOpen().then(() => finish(), (e: unknown) => finish(e));
  });
}

/** Handshake failures surface as `Unexpected server response: <status>`; give them an HTTP category. */
function openError(e: unknown): PluginError {
  const msg = isObject(e) && typeof e.message === 'string' ? e.message : '';
  const m = /Unexpected server response: (\d{3})/.exec(msg);
  if (m) return toPluginError({ status: Number(m[1]) }, PROVIDER);
  return toPluginError(e, PROVIDER);
}

/**
 * The listen model for a call's language. `nova-2-phonecall` (the default, tuned for 8 kHz phone audio) is
 * English-only, so any other language gets `languageModels[base]` or `nova-3`, which takes `language=es`
 * and `language=multi` (code-switching; `languageModels.multi` overrides, e.g. `nova-2`, whose multi mode
 * covers English and Spanish only). `settings.model` is the English model.
 */
export function modelFor(language: string | undefined, settings: SttDeepgramSettings): string {
  const base = (language ?? 'en').toLowerCase().split('-')[0]!;
  if (base === 'en') return settings.model ?? 'nova-2-phonecall';
  return settings.languageModels?.[base] ?? 'nova-3';
}

class DeepgramSttSession implements SttSession {
  private closing: Promise<void> | undefined;
  private closed = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private onClosed: (() => void) | undefined;
  /** False until open() succeeded: a failed handshake is reported by open() throwing, not by an event. */
  private started = false;

  constructor(
    private readonly conn: ListenSocket,
    private readonly onEvent: (e: TranscriptEvent) => void,
    private readonly ctx: PluginContext,
  ) {
    conn.on('message', (m: unknown) => {
      const e = mapListenMessage(m);
      if (e) this.onEvent(e);
    });
    conn.on('error', (err: Error) => {
      // The close event follows and carries the decision; this line keeps the cause.
      ctx.logger.warn({ err: err.message }, 'deepgram listen socket error');
    });
    conn.on('close', (ev: unknown) => this.handleClose(ev));
  }

  start(): void {
    this.started = true;
    this.keepAlive = setInterval(() => this.send(() => this.conn.sendKeepAlive({ type: 'KeepAlive' })), KEEPALIVE_MS);
    this.keepAlive.unref();
  }

  private handleClose(ev: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    if (!this.started) return;
    const code = isObject(ev) && typeof ev.code === 'number' ? ev.code : 0;
    if (this.closing) {
      this.onClosed?.();
      this.onEvent({ type: 'closed' });
      return;
    }
    // A drop we did not ask for: the SDK's auto-reconnect is off, so core decides whether to reopen.
    this.ctx.logger.warn({ code }, 'deepgram listen socket closed unexpectedly');
    this.onEvent({ type: 'closed', error: new PluginError('connectivity', `deepgram listen socket closed (${code})`, { provider: PROVIDER }) });
  }

  private send(fn: () => void): void {
    if (this.closed || this.closing) return;
    try {
      fn();
    } catch {
      // Not open any more: the close event reports it, once, instead of an error per frame.
    }
  }

  push(chunk: Uint8Array): void {
    if (this.closed || this.closing) return;
    try {
      this.conn.sendMedia(chunk);
    } catch {
      // see send()
    }
  }

  finalize(): void {
    this.send(() => this.conn.sendFinalize({ type: 'Finalize' }));
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.closed) return (this.closing = Promise.resolve());
    const g = closeWithGrace({ sendClose: () => this.conn.sendCloseStream({ type: 'CloseStream' }), forceClose: () => this.conn.close(), graceMs: CLOSE_GRACE_MS });
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
export function createDeepgramStt(ctx: PluginContext, settings: SttDeepgramSettings, apiKey: string | undefined): SttProvider {
  const baseUrl = settings.baseUrl || DEEPGRAM_DEFAULT_URL;
  const dg = new DeepgramClient({ apiKey: apiKey ?? '', baseUrl: settings.baseUrl || undefined, maxRetries: 0, fetch: ctx.egress.fetch as typeof fetch });

  return {
    async open(o) {
      o.signal?.throwIfAborted();
      if (!apiKey) throw new PluginError('auth', 'no Deepgram API key configured', { provider: PROVIDER });
      await ctx.egress.check(baseUrl);
      let conn: ListenSocket;
      try {
        const language = o.language ?? settings.language;
        conn = await dg.listen.v1.connect({
          model: modelFor(language, settings),
          encoding: 'mulaw',
          sample_rate: 8000,
          channels: 1,
          interim_results: 'true',
          // Short on purpose: core decides the end of a turn on the transcript and withdraws a request the
          // caller talks on from (docs/voice.md), so the endpointing no longer has to be the patient part.
          endpointing: settings.endpointingMs ?? 100,
          utterance_end_ms: settings.utteranceEndMs ?? 1000,
          vad_events: 'true',
          smart_format: 'true',
          punctuate: 'true',
          ...(language ? { language } : {}),
          // The SDK would otherwise silently open a fresh STT session on any abnormal close.
          reconnectAttempts: 0,
          connectionTimeoutInSeconds: OPEN_TIMEOUT_MS / 1000,
        });
      } catch (e) {
        throw toPluginError(e, PROVIDER);
      }
      const session = new DeepgramSttSession(conn, o.onEvent, ctx);
      conn.connect();
      try {
        await waitOpen(conn, o.signal);
      } catch (e) {
        // Stop the handshake (or the half-open socket) so nothing lingers after a failed open.
        conn.close();
        throw openError(e);
      }
      session.start();
      return session;
    },
    /**
     * A whole recording (a voicemail) in one REST request: `POST /v1/listen` with the file's bytes. Deepgram
     * cannot fetch Twilio media that needs auth, so core downloads it and hands us the bytes. nova-3 with
     * language detection, because a caller may leave a message in Spanish on an English line.
     */
    async transcribe(o) {
      o.signal?.throwIfAborted();
      if (!apiKey) throw new PluginError('auth', 'no Deepgram API key configured', { provider: PROVIDER });
      if (o.audio.length === 0) return { text: '' };
      try {
        const language = o.language ?? settings.language;
        const r = await dg.listen.v1.media.transcribeFile({ data: Buffer.from(o.audio.buffer, o.audio.byteOffset, o.audio.byteLength), contentType: o.contentType }, {
          model: settings.prerecordedModel ?? 'nova-3', smart_format: true, punctuate: true,
          ...(language ? { language } : { detect_language: true }),
        }, { abortSignal: o.signal, timeoutInSeconds: 60, maxRetries: 0 });
        const body = r as unknown as PrerecordedResponse;
        const channel = body.results?.channels?.[0];
        const alt = channel?.alternatives?.[0];
        return {
          text: (alt?.transcript ?? '').trim(),
          ...(channel?.detected_language ?? language ? { language: channel?.detected_language ?? language } : {}),
          ...(typeof body.metadata?.duration === 'number' ? { durationSec: body.metadata.duration } : {}),
          ...(typeof alt?.confidence === 'number' ? { confidence: alt.confidence } : {}),
        };
      } catch (e) {
        const status = (e as { statusCode?: unknown }).statusCode;
        throw typeof status === 'number' ? fromHttpStatus(status, `deepgram pre-recorded request failed (${status})`, { provider: PROVIDER, cause: e }) : toPluginError(e, PROVIDER);
      }
    },
    // Live sessions belong to their calls, which close them; a config change must not cut a call short.
    async close() {},
  };
}

/** The part of Deepgram's pre-recorded response we read (metadata + results.channels[].alternatives[]). */
interface PrerecordedResponse {
  metadata?: { duration?: number };
  results?: { channels?: Array<{ detected_language?: string; alternatives?: Array<{ transcript?: string; confidence?: number }> }> };
}
