// Fake Deepgram (protocols.md §2): live STT on WS /v1/listen, TTS on WS /v1/speak and POST /v1/speak.
// Transcripts are scripted, but *when* they arrive is driven by the audio itself (μ-law energy and
// audio time), so the product's turn-taking is exercised exactly as with the real service.
//
// Multilingual code-switching (`language=multi` on /v1/listen):
// - Documented (developers.deepgram.com/docs/multilingual-code-switching, and @deepgram/sdk 5.x
//   `ListenV1Results`): streaming takes `language=multi` with nova-2 or nova-3; each alternative of a Results
//   message carries `languages`, the BCP-47 tags heard, sorted by number of words, most first; each word carries
//   its own `language`. The docs' streaming example shows them on an `is_final` result.
// - Inferred: interim results carry them too (the fake sends them on both); monolingual sessions
//   (`language=en-US`, `es`, none) send neither field (the SDK types mark both optional and the docs show them
//   only for `multi`); `multi` with a model outside the nova-2/nova-3 families, `nova-2-phonecall` included
//   (English-only), is refused with HTTP 400 on the upgrade.
// - Fake-only: the language of a scripted utterance is its `language` field when given, else guessed per word
//   from a small Spanish lexicon (accents, ¿ ¡ and common words); a word with no clue takes the utterance's
//   majority, and an utterance with no clue at all is English.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { BYTES_PER_MS, FRAME_BYTES, energy, tone } from './mulaw.js';
import { sleep } from './http-util.js';
import { until } from '../helpers/until.js';

/** One scripted user utterance; a plain string is `{ transcript }`. */
export interface ScriptedUtterance {
  transcript: string;
  /** false: the final Results carries `speech_final:false`, so only UtteranceEnd ends the turn. Default true. */
  speechFinal?: boolean;
  /** Default 0.98. */
  confidence?: number;
  /**
   * The language every word was spoken in, as a `language=multi` session reports it (`en`, `es`, …). Unset: the
   * fake guesses per word (see the header). Ignored by monolingual sessions, which report no language.
   */
  language?: string;
}

export interface FakeDeepgramListenOptions {
  /** Mean absolute linear amplitude above which a frame counts as speech. Default 500. */
  speechThreshold?: number;
  /** Audio ms of speech between interim Results (when `interim_results=true`). Default 200 (10 frames). */
  interimEveryMs?: number;
  /** Close with 1011 (NET-0001) after this many wall-clock ms without audio or a text message. Off by default. */
  idleTimeoutMs?: number;
}

export interface FakeDeepgramSpeakOptions {
  /** Synthesised audio per character of text. Default 60 ms. */
  msPerChar?: number;
  /** Wall-clock delay between a Flush and its first audio byte. Default 0. */
  firstByteDelayMs?: number;
  /** Binary message size range, to mimic Aura's irregular chunking. Default 800–1600 bytes. */
  minChunkBytes?: number;
  maxChunkBytes?: number;
  /** Delay between audio messages; 0 still yields to the event loop so Clear can interrupt. Default 10 ms. */
  chunkIntervalMs?: number;
  /** Tone frequency of the synthetic speech. Default 300 Hz. */
  toneHz?: number;
  /**
   * Aura's documented Flush limit per socket: at most `max` Flush messages in any `windowMs`; a Flush over it
   * is not processed (its text stays buffered) and answered with a Warning. Default 20 per 60 s; null: off.
   */
  flushLimit?: { max: number; windowMs: number } | null;
}

/** The Warning code the fake sends for a Flush over the limit (the docs describe the warning, not its code). */
export const FLUSH_LIMIT_WARNING_CODE = 'FLUSH_LIMIT_EXCEEDED';

export interface FakeDeepgramOptions {
  /** Required key; when omitted any non-empty `Token …` is accepted. */
  apiKey?: string;
  listen?: FakeDeepgramListenOptions;
  speak?: FakeDeepgramSpeakOptions;
}

export interface ListenSessionRecord {
  id: number;
  requestId: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  open: boolean;
  bytesReceived: number;
  /** Audio time received, in ms (bytes / 8). */
  audioMs: number;
  keepAlives: number;
  finalizes: number;
  closeStream: boolean;
  /** Every JSON message sent to the client, in order. */
  sent: Array<Record<string, unknown>>;
  /** Unparseable or unknown text messages from the client. */
  badMessages: string[];
  closeCode?: number;
  /** Close the socket now (fault injection); default 1011. */
  kill(code?: number, reason?: string): void;
}

export interface SpeakSessionRecord {
  id: number;
  requestId: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  open: boolean;
  /** Text of every Speak message, in order. */
  texts: string[];
  flushes: number;
  /** Flush messages refused for being over the Flush limit (each answered with a Warning). */
  flushesRefused: number;
  /** Arrival time (Date.now()) of every Flush, refused ones included. */
  flushTimes: number[];
  clears: number;
  bytesSent: number;
  /** Every JSON message sent to the client, in order. */
  sent: Array<Record<string, unknown>>;
  badMessages: string[];
  closeCode?: number;
  kill(code?: number, reason?: string): void;
}

export interface FakeDeepgramListen {
  /** Sessions opened so far. */
  readonly sessions: number;
  /** Sessions open right now. */
  readonly openSessions: number;
  readonly records: ListenSessionRecord[];
  readonly lastSession: ListenSessionRecord | undefined;
  /** Queue transcripts; each speech burst (in any session) consumes the next one. */
  enqueueTranscripts(items: Array<string | ScriptedUtterance>): void;
  /**
   * Asked for a burst's transcript when the queue is empty (per-session scripts, benchmarks);
   * `burst` counts from 0 within the session. Undefined → empty transcript. Null removes it.
   */
  respond(fn: ((session: ListenSessionRecord, burst: number) => string | ScriptedUtterance | undefined) | null): void;
  readonly pendingTranscripts: number;
  /** Refuse every upgrade with this HTTP status (null to stop). */
  refuseUpgrades(status: number | null): void;
  /** Refuse only the next upgrade. Default 500. */
  failNextUpgrade(status?: number): void;
  /** Accept the TCP connection but never answer the upgrade request (a hung handshake); false to stop. */
  holdUpgrades(on: boolean): void;
  /** Held upgrade connections the client has not closed yet (a client that gives up must close them). */
  readonly heldUpgrades: number;
  /** Close every open session now. Default 1011. */
  kill(code?: number, reason?: string): void;
  /** Change the idle timeout for sessions opened from now on (null: off). */
  setIdleTimeout(ms: number | null): void;
  /** Close every session (code default 1011) once it has received this much audio; null: off. */
  closeAfterAudioMs(ms: number | null, code?: number): void;
  waitForSessions(n: number, timeoutMs?: number): Promise<ListenSessionRecord>;
}

export interface SpeakRestRecord {
  query: Record<string, string>;
  text: string;
  status: number;
}

export interface FakeDeepgramSpeak {
  readonly sessions: number;
  readonly openSessions: number;
  readonly records: SpeakSessionRecord[];
  readonly lastSession: SpeakSessionRecord | undefined;
  /** Speak texts of every session, in arrival order. */
  readonly texts: string[];
  /** Clear messages received across sessions. */
  readonly clears: number;
  readonly restRequests: SpeakRestRecord[];
  refuseUpgrades(status: number | null): void;
  failNextUpgrade(status?: number): void;
  /** See {@link FakeDeepgramListen.holdUpgrades}. */
  holdUpgrades(on: boolean): void;
  readonly heldUpgrades: number;
  /**
   * Once a session has sent this many audio bytes it goes silent: no more audio and no Flushed, while the
   * socket stays open (a stalled synthesis). Applies to sessions open now and later; null: off.
   */
  stallAfterBytes(n: number | null): void;
  kill(code?: number, reason?: string): void;
  waitForSessions(n: number, timeoutMs?: number): Promise<SpeakSessionRecord>;
}

/** One pre-recorded `POST /v1/listen` request (a file's bytes, or `{"url"}` JSON). */
export interface PrerecordedRecord {
  query: Record<string, string>;
  contentType: string;
  bytes: number;
  url?: string;
  status: number;
}

/** What the fake answers for a pre-recorded file: the transcript and, optionally, the detected language. */
export interface PrerecordedAnswer { transcript: string; language?: string; confidence?: number }

export interface FakeDeepgramPrerecorded {
  readonly requests: PrerecordedRecord[];
  /** The answer for each file (default: an empty transcript, as Deepgram gives for silence). */
  respond(fn: (audio: Buffer, query: Record<string, string>) => PrerecordedAnswer): void;
  /** The next request answers this status with Deepgram's error body. */
  failNext(status: number): void;
}

export interface FakeDeepgram {
  /** `http://127.0.0.1:<port>`; give the SDK `baseUrl: url`. */
  url: string;
  listen: FakeDeepgramListen;
  speak: FakeDeepgramSpeak;
  /** `POST /v1/listen` (pre-recorded REST; the same path as the live WebSocket, told apart by the upgrade). */
  prerecorded: FakeDeepgramPrerecorded;
  close(): Promise<void>;
}

const MODEL_UUID = '4d892fb6-7b73-4a8b-8f6e-2a9b4c1d0e11';
const MODEL_INFO = { name: '2-phonecall-nova', version: '2024-01-09.29447', arch: 'nova-2' };
const TTS_MODEL_UUID = 'ecb76e9d-f2db-4127-8060-79b05590d22f';
const NET0001 = 'Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001';

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

function yieldLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function queryOf(url: URL): Record<string, string> {
  return Object.fromEntries(url.searchParams.entries());
}

function parseControl(data: RawData): { type: string; text?: unknown } | undefined {
  try {
    const v: unknown = JSON.parse(data.toString());
    if (typeof v === 'object' && v !== null && typeof (v as { type?: unknown }).type === 'string') return v as { type: string; text?: unknown };
  } catch {
    // fall through: reported as a bad message by the caller
  }
  return undefined;
}

function rejectUpgrade(socket: Duplex, status: number, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function numberParam(q: Record<string, string>, key: string): number | undefined {
  const v = q[key];
  if (v === undefined || v === '' || v === 'false') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function wordsOf(transcript: string): string[] {
  return transcript.split(/\s+/).filter(Boolean);
}

/** Words that give a Spanish phrase away; short and deliberately unambiguous (no "no", "a", "me"). */
const SPANISH_WORDS = new Set([
  'hola', 'quiero', 'quisiera', 'necesito', 'una', 'cita', 'para', 'el', 'la', 'los', 'las', 'de', 'del', 'mi', 'mis', 'su', 'por',
  'favor', 'gracias', 'martes', 'lunes', 'miércoles', 'jueves', 'viernes', 'sábado', 'domingo', 'cambio', 'aceite', 'carro',
  'coche', 'sí', 'tienen', 'tiene', 'algo', 'puedo', 'puede', 'hablar', 'español', 'primera', 'segunda', 'mañana', 'tarde',
  'cero', 'uno', 'dos', 'tres', 'cuatro', 'cinco', 'seis', 'siete', 'ocho', 'nueve', 'que', 'qué', 'es', 'está', 'con', 'en',
  'un', 'unos', 'y', 'lo', 'al', 'buenas', 'buenos', 'días', 'tardes', 'llantas', 'frenos', 'revisar', 'servicio', 'hay', 'cuándo', 'cuál', 'bien', 'muy',
]);

/** The fake's per-word language guess: `es` on a Spanish clue, `en` on a plain ASCII word, undefined for neither. */
function guessWordLanguage(word: string): 'en' | 'es' | undefined {
  const w = word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
  if (!w || /^\d+$/.test(w)) return undefined;
  if (/[¿¡]/.test(word) || /[áéíóúñü]/.test(w) || SPANISH_WORDS.has(w)) return 'es';
  return /^[a-z']+$/.test(w) ? 'en' : undefined;
}

/** Per-word languages of an utterance, for a `language=multi` session. */
function wordLanguages(words: string[], language: string | undefined): string[] {
  if (language) return words.map(() => language);
  const guessed = words.map(guessWordLanguage);
  const es = guessed.filter((g) => g === 'es').length;
  const en = guessed.filter((g) => g === 'en').length;
  const majority = es > en ? 'es' : 'en';
  // An ASCII word inside a mostly Spanish phrase ("Khani", "Honda") is most likely a name: it goes with the phrase.
  return guessed.map((g) => (g === undefined || (g === 'en' && majority === 'es' && es >= 2 * en) ? majority : g));
}

/** `languages` as Deepgram sorts it: by number of words, most first. */
function languagesByCount(perWord: string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of perWord) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([l]) => l);
}

/** Models whose streaming accepts `language=multi` (nova-2 and nova-3 families, not the English-only phonecall). */
function multilingualModel(model: string | undefined): boolean {
  return /^nova-[23](-|$)/.test(model ?? '') && !/phonecall/.test(model ?? '');
}

// Deterministic chunk sizes keep test runs reproducible while still varying the message boundaries.
function makeRng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

export async function startFakeDeepgram(opts: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const listenOpts = opts.listen ?? {};
  const speakOpts = opts.speak ?? {};
  const threshold = listenOpts.speechThreshold ?? 500;
  const interimEveryMs = listenOpts.interimEveryMs ?? 200;
  let idleTimeoutMs: number | null = listenOpts.idleTimeoutMs ?? null;
  const msPerChar = speakOpts.msPerChar ?? 60;
  const toneHz = speakOpts.toneHz ?? 300;
  const minChunk = speakOpts.minChunkBytes ?? 800;
  const maxChunk = Math.max(minChunk, speakOpts.maxChunkBytes ?? 1600);
  const chunkIntervalMs = speakOpts.chunkIntervalMs ?? 10;

  const script: ScriptedUtterance[] = [];
  let responder: ((session: ListenSessionRecord, burst: number) => string | ScriptedUtterance | undefined) | null = null;
  let closeAfter: { ms: number; code: number } | null = null;
  const listenRecords: ListenSessionRecord[] = [];
  const speakRecords: SpeakSessionRecord[] = [];
  const restRequests: SpeakRestRecord[] = [];
  const sockets = new Set<WebSocket>();
  const refuse = { listen: null as number | null, speak: null as number | null };
  const hold = { listen: false, speak: false };
  const held = { listen: new Set<Duplex>(), speak: new Set<Duplex>() };
  let speakStallAt: number | null = null;
  const flushLimit = speakOpts.flushLimit === undefined ? { max: 20, windowMs: 60_000 } : speakOpts.flushLimit;
  const failNext = { listen: [] as number[], speak: [] as number[] };

  function authOk(req: http.IncomingMessage): boolean {
    let key: string | undefined;
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^(?:Token|token) (.+)$/.exec(h) : null;
    if (m) key = m[1];
    const proto = req.headers['sec-websocket-protocol'];
    if (!key && typeof proto === 'string') {
      const parts = proto.split(',').map((p) => p.trim());
      if (parts[0] === 'token' && parts[1]) key = parts[1];
    }
    if (!key) return false;
    return opts.apiKey === undefined || key === opts.apiKey;
  }

  function sendJson(ws: WebSocket, sent: Array<Record<string, unknown>>, msg: Record<string, unknown>): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    sent.push(msg);
    ws.send(JSON.stringify(msg));
  }

  // ---------------------------------------------------------------- listen
  function startListen(ws: WebSocket, req: http.IncomingMessage, url: URL): void {
    const query = queryOf(url);
    const vad = query.vad_events === 'true';
    const interims = query.interim_results === 'true';
    const endpointingMs = query.endpointing === 'false' ? 300 : (numberParam(query, 'endpointing') ?? 300);
    const speechFinalEnabled = query.endpointing !== 'false';
    const utteranceEndMs = numberParam(query, 'utterance_end_ms');
    const requestId = randomUUID();
    const multi = query.language === 'multi';
    const rec: ListenSessionRecord = {
      id: listenRecords.length + 1,
      requestId,
      query,
      headers: req.headers,
      open: true,
      bytesReceived: 0,
      audioMs: 0,
      keepAlives: 0,
      finalizes: 0,
      closeStream: false,
      sent: [],
      badMessages: [],
      kill(code = 1011, reason = 'fake deepgram: killed') {
        if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
      },
    };
    listenRecords.push(rec);

    // Speech state, all in audio time (ms of audio received) so fast-paced tests behave like real time.
    let inUtterance = false;
    let suppressUntilSilence = false;
    let current: ScriptedUtterance = { transcript: '' };
    let speechStartMs = 0;
    let lastVoiceMs = 0;
    let lastInterimMs = 0;
    let interimCount = 0;
    let utteranceEndArmed = false;
    let lastWordEndMs = 0;
    let bursts = 0;
    const nextUtterance = (): ScriptedUtterance => {
      const queued = script.shift();
      if (queued) return queued;
      const r = responder?.(rec, bursts);
      return typeof r === 'string' ? { transcript: r } : (r ?? { transcript: '' });
    };

    const results = (o: { transcript: string; words: string[]; startMs: number; endMs: number; isFinal: boolean; speechFinal: boolean; fromFinalize: boolean; confidence: number }): Record<string, unknown> => {
      const dur = Math.max(0, o.endMs - o.startMs);
      const per = o.words.length ? dur / o.words.length : 0;
      // The whole utterance decides each word's language, so an interim's words agree with the final's.
      const langs = multi ? wordLanguages(wordsOf(current.transcript), current.language).slice(0, o.words.length) : [];
      return {
        type: 'Results',
        channel_index: [0, 1],
        duration: dur / 1000,
        start: o.startMs / 1000,
        is_final: o.isFinal,
        speech_final: o.speechFinal,
        from_finalize: o.fromFinalize,
        channel: {
          alternatives: [{
            transcript: o.transcript,
            confidence: o.transcript ? o.confidence : 0,
            ...(multi ? { languages: languagesByCount(langs) } : {}),
            words: o.words.map((w, i) => ({
              word: w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''),
              start: (o.startMs + i * per) / 1000,
              end: (o.startMs + (i + 1) * per) / 1000,
              confidence: o.confidence,
              ...(multi ? { language: langs[i] } : {}),
              punctuated_word: w,
            })),
          }],
        },
        metadata: { request_id: requestId, model_info: MODEL_INFO, model_uuid: MODEL_UUID },
      };
    };

    const sendFinal = (speechFinal: boolean, fromFinalize: boolean): void => {
      const words = wordsOf(current.transcript);
      sendJson(ws, rec.sent, results({
        transcript: current.transcript, words, startMs: speechStartMs, endMs: lastVoiceMs,
        isFinal: true, speechFinal, fromFinalize, confidence: current.confidence ?? 0.98,
      }));
      inUtterance = false;
      lastWordEndMs = lastVoiceMs;
      utteranceEndArmed = utteranceEndMs !== undefined;
    };

    const onFrame = (frame: Buffer): void => {
      const frameStart = rec.audioMs;
      rec.audioMs += frame.length / BYTES_PER_MS;
      const now = rec.audioMs;
      if (energy(frame) >= threshold) {
        lastVoiceMs = now;
        if (suppressUntilSilence) return;
        if (!inUtterance) {
          inUtterance = true;
          utteranceEndArmed = false;
          current = nextUtterance();
          bursts++;
          speechStartMs = frameStart;
          lastInterimMs = frameStart;
          interimCount = 0;
          if (vad) sendJson(ws, rec.sent, { type: 'SpeechStarted', channel: [0], timestamp: frameStart / 1000 });
        }
        if (interims && now - lastInterimMs >= interimEveryMs) {
          lastInterimMs = now;
          interimCount++;
          const all = wordsOf(current.transcript);
          const words = all.slice(0, Math.min(interimCount, all.length));
          sendJson(ws, rec.sent, results({
            transcript: words.join(' '), words, startMs: speechStartMs, endMs: now,
            isFinal: false, speechFinal: false, fromFinalize: false, confidence: current.confidence ?? 0.98,
          }));
        }
        return;
      }
      suppressUntilSilence = false;
      if (inUtterance && now - lastVoiceMs >= endpointingMs) {
        sendFinal(speechFinalEnabled && current.speechFinal !== false, false);
      }
      if (utteranceEndArmed && utteranceEndMs !== undefined && now - lastWordEndMs >= utteranceEndMs) {
        utteranceEndArmed = false;
        sendJson(ws, rec.sent, { type: 'UtteranceEnd', channel: [0, 1], last_word_end: lastWordEndMs / 1000 });
      }
    };

    let idle: NodeJS.Timeout | undefined;
    if (idleTimeoutMs !== null) {
      const ms = idleTimeoutMs;
      idle = setTimeout(() => {
        if (ws.readyState === WebSocket.OPEN) ws.close(1011, NET0001);
      }, ms);
    }

    ws.on('message', (data: RawData, isBinary: boolean) => {
      idle?.refresh();
      if (isBinary) {
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        rec.bytesReceived += buf.length;
        for (let off = 0; off < buf.length; off += FRAME_BYTES) onFrame(buf.subarray(off, Math.min(off + FRAME_BYTES, buf.length)));
        if (closeAfter && rec.audioMs >= closeAfter.ms) ws.close(closeAfter.code, 'fake deepgram: closed after audio limit');
        return;
      }
      const msg = parseControl(data);
      switch (msg?.type) {
        case 'KeepAlive':
          rec.keepAlives++;
          return;
        case 'Finalize':
          rec.finalizes++;
          if (inUtterance) {
            sendFinal(false, true);
            suppressUntilSilence = true;
          } else {
            sendJson(ws, rec.sent, results({
              transcript: '', words: [], startMs: rec.audioMs, endMs: rec.audioMs,
              isFinal: true, speechFinal: false, fromFinalize: true, confidence: 0,
            }));
          }
          return;
        case 'CloseStream':
          rec.closeStream = true;
          if (inUtterance) sendFinal(speechFinalEnabled && current.speechFinal !== false, false);
          sendJson(ws, rec.sent, {
            type: 'Metadata', transaction_key: 'deprecated', request_id: requestId,
            sha256: randomBytes(32).toString('hex'), created: new Date().toISOString(),
            duration: rec.audioMs / 1000, channels: 1, models: [MODEL_UUID], model_info: { [MODEL_UUID]: MODEL_INFO },
          });
          ws.close(1000);
          return;
        default:
          rec.badMessages.push(data.toString().slice(0, 200));
      }
    });
    ws.on('close', (code: number) => {
      if (idle) clearTimeout(idle);
      rec.open = false;
      rec.closeCode = code;
    });
  }

  // ---------------------------------------------------------------- speak
  function synthBytes(text: string): Buffer {
    return tone(text.trim().length * msPerChar, toneHz, 6000);
  }

  function startSpeak(ws: WebSocket, req: http.IncomingMessage, url: URL): void {
    const requestId = randomUUID();
    const rec: SpeakSessionRecord = {
      id: speakRecords.length + 1,
      requestId,
      query: queryOf(url),
      headers: req.headers,
      open: true,
      texts: [],
      flushes: 0,
      flushesRefused: 0,
      flushTimes: [],
      clears: 0,
      bytesSent: 0,
      sent: [],
      badMessages: [],
      kill(code = 1011, reason = 'fake deepgram: killed') {
        if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
      },
    };
    speakRecords.push(rec);
    const rng = makeRng(rec.id * 7919);
    let textBuf = '';
    let generation = 0;
    let lastSeq = 0;
    let running = false;
    const jobs: Array<{ text: string; seq: number }> = [];
    /** Arrival times of the Flushes processed within the limit's window. */
    const accepted: number[] = [];

    const synth = async (text: string, gen: number): Promise<boolean> => {
      const audio = synthBytes(text);
      if (speakOpts.firstByteDelayMs) await sleep(speakOpts.firstByteDelayMs);
      for (let off = 0; off < audio.length;) {
        if (gen !== generation || ws.readyState !== WebSocket.OPEN) return false;
        if (speakStallAt !== null && rec.bytesSent >= speakStallAt) {
          // Stalled: hold the rest (and the Flushed) until a Clear, a Close or the socket ends.
          while (gen === generation && ws.readyState === WebSocket.OPEN) await sleep(20);
          return false;
        }
        const size = minChunk + Math.floor(rng() * (maxChunk - minChunk + 1));
        const chunk = audio.subarray(off, Math.min(off + size, audio.length));
        off += chunk.length;
        ws.send(chunk);
        rec.bytesSent += chunk.length;
        if (chunkIntervalMs > 0) await sleep(chunkIntervalMs);
        else await yieldLoop();
      }
      return gen === generation;
    };

    const pump = async (): Promise<void> => {
      if (running) return;
      running = true;
      try {
        for (let job = jobs.shift(); job; job = jobs.shift()) {
          const gen = generation;
          if (await synth(job.text, gen)) sendJson(ws, rec.sent, { type: 'Flushed', sequence_id: job.seq });
        }
      } finally {
        running = false;
      }
    };

    sendJson(ws, rec.sent, { type: 'Metadata', request_id: requestId, model_name: rec.query.model ?? 'aura-asteria-en', model_version: '2024-11-14.0', model_uuid: TTS_MODEL_UUID });

    ws.on('message', (data: RawData, isBinary: boolean) => {
      const msg = isBinary ? undefined : parseControl(data);
      switch (msg?.type) {
        case 'Speak':
          if (typeof msg.text !== 'string') {
            rec.badMessages.push(data.toString().slice(0, 200));
            sendJson(ws, rec.sent, { type: 'Warning', description: 'Speak message is missing a text field.', code: 'INVALID_MESSAGE' });
            return;
          }
          rec.texts.push(msg.text);
          textBuf += msg.text;
          return;
        case 'Flush': {
          const now = Date.now();
          rec.flushTimes.push(now);
          while (accepted.length && accepted[0]! <= now - (flushLimit?.windowMs ?? 0)) accepted.shift();
          if (flushLimit && accepted.length >= flushLimit.max) {
            // As documented: over the limit a Flush is not processed until the window has passed; the text stays.
            rec.flushesRefused++;
            sendJson(ws, rec.sent, {
              type: 'Warning', code: FLUSH_LIMIT_WARNING_CODE,
              description: `Flush limit exceeded: at most ${flushLimit.max} Flush messages per ${flushLimit.windowMs / 1000} seconds; this Flush was not processed.`,
            });
            return;
          }
          accepted.push(now);
          const seq = rec.flushes++;
          lastSeq = seq;
          jobs.push({ text: textBuf, seq });
          textBuf = '';
          void pump();
          return;
        }
        case 'Clear':
          rec.clears++;
          generation++;
          jobs.length = 0;
          textBuf = '';
          sendJson(ws, rec.sent, { type: 'Cleared', sequence_id: lastSeq });
          return;
        case 'Close':
          generation++;
          jobs.length = 0;
          ws.close(1000);
          return;
        default:
          rec.badMessages.push(isBinary ? `<binary ${Buffer.isBuffer(data) ? data.length : '?'}>` : data.toString().slice(0, 200));
          sendJson(ws, rec.sent, { type: 'Warning', description: 'Unrecognised message.', code: 'INVALID_MESSAGE' });
      }
    });
    ws.on('close', (code: number) => {
      generation++;
      rec.open = false;
      rec.closeCode = code;
    });
  }

  // ---------------------------------------------------------------- http
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  const prerecordedRequests: PrerecordedRecord[] = [];
  let prerecordedAnswer: (audio: Buffer, query: Record<string, string>) => PrerecordedAnswer = () => ({ transcript: '' });
  const prerecordedFailures: number[] = [];

  /** Deepgram's pre-recorded response shape (metadata + results.channels[].alternatives[]). */
  function prerecordedBody(o: { audio: Buffer; query: Record<string, string>; requestId: string; contentType: string }): unknown {
    const a = prerecordedAnswer(o.audio, o.query);
    // A WAV from Twilio is 16-bit PCM at 8 kHz after a 44-byte header: 16,000 bytes a second.
    const duration = o.contentType.includes('wav') ? Math.max(0, o.audio.length - 44) / 16_000 : o.audio.length / 8000;
    const words = a.transcript.split(/\s+/).filter(Boolean);
    const step = words.length ? duration / words.length : 0;
    return {
      metadata: {
        transaction_key: 'deprecated', request_id: o.requestId, sha256: createHash('sha256').update(o.audio).digest('hex'),
        created: new Date().toISOString(), duration, channels: 1, models: [MODEL_UUID], model_info: { [MODEL_UUID]: MODEL_INFO },
      },
      results: {
        channels: [{
          ...(o.query.detect_language === 'true' ? { detected_language: a.language ?? 'en', language_confidence: 0.97 } : {}),
          alternatives: [{
            transcript: a.transcript, confidence: a.confidence ?? (words.length ? 0.96 : 0),
            words: words.map((w, i) => ({ word: w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''), start: i * step, end: (i + 1) * step, confidence: 0.96, punctuated_word: w })),
          }],
        }],
      },
    };
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const dgRequestId = randomUUID();
      const fail = (status: number, err_code: string, err_msg: string): void => {
        res.writeHead(status, { 'content-type': 'application/json', 'dg-request-id': dgRequestId });
        res.end(JSON.stringify({ err_code, err_msg, request_id: dgRequestId }));
      };
      if (!authOk(req)) return fail(401, 'INVALID_AUTH', 'Invalid credentials.');
      if (req.method === 'POST' && url.pathname === '/v1/listen') {
        const query = queryOf(url);
        const contentType = String(req.headers['content-type'] ?? '');
        let audio = Buffer.concat(chunks);
        let remote: string | undefined;
        if (contentType.includes('application/json')) {
          // `{"url"}`: Deepgram would fetch it; the fake has nothing to fetch and transcribes an empty file.
          try { remote = String((JSON.parse(audio.toString('utf8')) as { url?: unknown }).url ?? ''); } catch { remote = ''; }
          audio = Buffer.alloc(0);
          if (!remote) { prerecordedRequests.push({ query, contentType, bytes: 0, status: 400 }); return fail(400, 'Bad Request', 'Invalid JSON body: missing url.'); }
        }
        const forced = prerecordedFailures.shift();
        if (forced) {
          prerecordedRequests.push({ query, contentType, bytes: audio.length, status: forced });
          return fail(forced, forced === 429 ? 'TOO_MANY_REQUESTS' : 'INTERNAL_SERVER_ERROR', STATUS_TEXT[forced] ?? 'error');
        }
        if (!remote && audio.length === 0) {
          prerecordedRequests.push({ query, contentType, bytes: 0, status: 400 });
          return fail(400, 'Bad Request', 'Bad Request: failed to process audio: corrupt or unsupported data');
        }
        prerecordedRequests.push({ query, contentType, bytes: audio.length, ...(remote ? { url: remote } : {}), status: 200 });
        const body = JSON.stringify(prerecordedBody({ audio, query, requestId: dgRequestId, contentType }));
        res.writeHead(200, { 'content-type': 'application/json', 'dg-request-id': dgRequestId });
        res.end(body);
        return;
      }
      if (req.method !== 'POST' || url.pathname !== '/v1/speak') return fail(404, 'NOT_FOUND', `No route for ${req.method ?? ''} ${url.pathname}`);
      const query = queryOf(url);
      let text = '';
      try {
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof body === 'object' && body !== null && typeof (body as { text?: unknown }).text === 'string') text = (body as { text: string }).text;
      } catch {
        // an unparseable body is reported below exactly like an empty text
      }
      if (!text.trim()) {
        restRequests.push({ query, text, status: 400 });
        return fail(400, 'Bad Request', 'Text input is empty or missing.');
      }
      restRequests.push({ query, text, status: 200 });
      const audio = synthBytes(text);
      res.writeHead(200, {
        'content-type': query.encoding === 'linear16' ? 'audio/l16' : 'audio/mulaw',
        'content-length': audio.length,
        'dg-request-id': dgRequestId,
        'dg-model-name': query.model ?? 'aura-asteria-en',
        'dg-model-uuid': TTS_MODEL_UUID,
        'dg-char-count': String(text.length),
      });
      res.end(audio);
    });
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const surface = url.pathname === '/v1/listen' ? 'listen' : url.pathname === '/v1/speak' ? 'speak' : null;
    if (!surface) return rejectUpgrade(socket, 404, JSON.stringify({ err_code: 'NOT_FOUND', err_msg: 'Not found', request_id: randomUUID() }));
    if (!authOk(req)) {
      return rejectUpgrade(socket, 401, JSON.stringify({ err_code: 'INVALID_AUTH', err_msg: 'Invalid credentials.', request_id: randomUUID() }));
    }
    if (hold[surface]) {
      // A hung handshake: the request was read, the 101 never comes. The client must give up and close it.
      held[surface].add(socket);
      const gone = (): void => { held[surface].delete(socket); socket.destroy(); };
      // http servers allow half-open sockets: a client that gives up sends FIN ('end'), not always a reset.
      socket.on('end', gone);
      socket.on('close', gone);
      socket.on('error', gone);
      return;
    }
    const forced = failNext[surface].shift() ?? refuse[surface];
    if (forced !== null) {
      return rejectUpgrade(socket, forced, JSON.stringify({ err_code: 'INTERNAL_SERVER_ERROR', err_msg: 'fake deepgram: upgrade refused', request_id: randomUUID() }));
    }
    if (surface === 'listen' && url.searchParams.get('language') === 'multi' && !multilingualModel(url.searchParams.get('model') ?? undefined)) {
      return rejectUpgrade(socket, 400, JSON.stringify({ err_code: 'Bad Request', err_msg: `language=multi is not supported by model ${url.searchParams.get('model') ?? '(none)'}`, request_id: randomUUID() }));
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      if (surface === 'listen') startListen(ws, req, url);
      else startSpeak(ws, req, url);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const killAll = (records: Array<{ open: boolean; kill(code?: number, reason?: string): void }>, code?: number, reason?: string): void => {
    for (const r of records) if (r.open) r.kill(code, reason);
  };

  return {
    url: `http://127.0.0.1:${port}`,
    prerecorded: {
      requests: prerecordedRequests,
      respond(fn) { prerecordedAnswer = fn; },
      failNext(status) { prerecordedFailures.push(status); },
    },
    listen: {
      get sessions() {
        return listenRecords.length;
      },
      get openSessions() {
        return listenRecords.filter((r) => r.open).length;
      },
      records: listenRecords,
      get lastSession() {
        return listenRecords[listenRecords.length - 1];
      },
      enqueueTranscripts(items) {
        for (const it of items) script.push(typeof it === 'string' ? { transcript: it } : it);
      },
      get pendingTranscripts() {
        return script.length;
      },
      refuseUpgrades(status) {
        refuse.listen = status;
      },
      failNextUpgrade(status = 500) {
        failNext.listen.push(status);
      },
      holdUpgrades(on) {
        hold.listen = on;
      },
      get heldUpgrades() {
        return held.listen.size;
      },
      kill(code, reason) {
        killAll(listenRecords, code, reason);
      },
      setIdleTimeout(ms) {
        idleTimeoutMs = ms;
      },
      closeAfterAudioMs(ms, code = 1011) {
        closeAfter = ms === null ? null : { ms, code };
      },
      respond(fn) {
        responder = fn;
      },
      async waitForSessions(n, timeoutMs = 2000) {
        await until(() => listenRecords.length >= n, timeoutMs, `${n} listen session(s)`);
        return listenRecords[n - 1]!;
      },
    },
    speak: {
      get sessions() {
        return speakRecords.length;
      },
      get openSessions() {
        return speakRecords.filter((r) => r.open).length;
      },
      records: speakRecords,
      get lastSession() {
        return speakRecords[speakRecords.length - 1];
      },
      get texts() {
        return speakRecords.flatMap((r) => r.texts);
      },
      get clears() {
        return speakRecords.reduce((n, r) => n + r.clears, 0);
      },
      restRequests,
      refuseUpgrades(status) {
        refuse.speak = status;
      },
      failNextUpgrade(status = 500) {
        failNext.speak.push(status);
      },
      holdUpgrades(on) {
        hold.speak = on;
      },
      get heldUpgrades() {
        return held.speak.size;
      },
      stallAfterBytes(n) {
        speakStallAt = n;
      },
      kill(code, reason) {
        killAll(speakRecords, code, reason);
      },
      async waitForSessions(n, timeoutMs = 2000) {
        await until(() => speakRecords.length >= n, timeoutMs, `${n} speak session(s)`);
        return speakRecords[n - 1]!;
      },
    },
    close() {
      for (const ws of sockets) ws.terminate();
      for (const sock of [...held.listen, ...held.speak]) sock.destroy();
      wss.close();
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
