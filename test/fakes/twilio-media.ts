// Fake Twilio caller for Media Streams (protocols.md §4). It dials the agent's WebSocket exactly as
// Twilio does for <Connect><Stream>, streams caller audio in real time (or fast), and models Twilio's
// playback of the agent's audio at 8 bytes/ms so marks, `clear` and "what the caller heard" are exact.
// One timer per call drives both directions, which keeps 300 concurrent fake calls cheap.
import { performance } from 'node:perf_hooks';
import WebSocket, { type RawData } from 'ws';
import { BYTES_PER_MS, FRAME_BYTES, SILENCE_BYTE, tone } from './mulaw.js';
import { newSid } from './twilio-webhooks.js';

/** The clock every timestamp of this module uses (ms, monotonic). */
export function mediaClock(): number {
  return performance.now();
}

export interface ConnectMediaStreamOptions {
  /** e.g. `ws://127.0.0.1:<port>/twilio/media` */
  url: string;
  callSid?: string;
  accountSid?: string;
  streamSid?: string;
  /** Arrives in `start.customParameters` (what <Parameter> produces). */
  customParameters?: Record<string, string>;
  /** Extra handshake headers. */
  headers?: Record<string, string>;
  /** Default `['inbound']`. */
  tracks?: string[];
  /** Send `connected` + `start` right after the socket opens. Default true; else call `start()`. */
  autoStart?: boolean;
  /** Default pacing of sendAudio/say/silence: false = real time (20 ms per frame). */
  fast?: boolean;
  /** Like real Twilio, stream 20 ms silence frames whenever no caller audio is queued. Default true. */
  idleSilence?: boolean;
  /** Keep every outbound audio byte in `receivedAudio` (costly for long calls). Default false. */
  recordAudio?: boolean;
  /** Pacing/playback tick. Default 20 ms. */
  tickMs?: number;
  connectTimeoutMs?: number;
}

export interface ReceivedMessage {
  at: number;
  event: string;
  streamSid?: string;
  /** media: decoded byte count (the payload itself is elided from `message`). */
  bytes?: number;
  /** mark: its name. */
  name?: string;
  message: Record<string, unknown>;
}

export interface PlayedSlice {
  at: number;
  bytes: number;
}

export interface MarkEcho {
  name: string;
  at: number;
  /** Echoed because of a `clear`, i.e. its audio was never played. */
  cleared: boolean;
}

export interface ClearRecord {
  at: number;
  droppedBytes: number;
}

export interface SentAudio {
  kind: 'speech' | 'silence' | 'audio';
  bytes: number;
  /** When its first frame went out (undefined while queued). */
  startedAt?: number;
  endedAt?: number;
}

export interface SendAudioOptions {
  fast?: boolean;
  kind?: SentAudio['kind'];
}

type QueueItem = { kind: 'audio'; buf: Buffer; off: number } | { kind: 'mark'; name: string };

interface Waiter {
  pred: () => boolean;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class FakeMediaCall {
  readonly callSid: string;
  readonly accountSid: string;
  readonly streamSid: string;
  readonly ws: WebSocket;

  /** Every message the agent sent, in order (media payloads elided). */
  readonly received: ReceivedMessage[] = [];
  /** Outbound audio bytes, only with `recordAudio`. */
  readonly receivedAudio: Buffer[] = [];
  receivedAudioBytes = 0;
  /** Bytes of agent audio "heard" by the caller. */
  playedBytes = 0;
  /** Played audio per tick; sum of `bytes` equals playedBytes. */
  readonly played: PlayedSlice[] = [];
  readonly marks: MarkEcho[] = [];
  readonly clears: ClearRecord[] = [];
  /** Caller audio submitted through sendAudio/say/silence. */
  readonly sent: SentAudio[] = [];
  /** Outbound messages whose streamSid was missing or not ours (Twilio ignores them; so does the fake). */
  streamSidMismatches = 0;
  /** Outbound frames that were not JSON or had an unknown event. */
  readonly protocolErrors: string[] = [];
  /** Media frames sent to the agent (chunk counter). */
  framesSent = 0;
  closed: { code: number; reason: string; at: number } | null = null;

  private seq = 0;
  private mediaMs = 0;
  private readonly fast: boolean;
  private readonly idleSilence: boolean;
  private readonly recordAudio: boolean;
  private readonly playQueue: QueueItem[] = [];
  private queuedBytes = 0;
  private readonly inbound: Array<{ buf: Buffer; off: number; rec: SentAudio; done: () => void }> = [];
  private nextInboundAt = 0;
  private lastPlayAt = 0;
  private playCredit = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<Waiter>();
  private started = false;
  private readonly tracks: string[];
  private readonly customParameters: Record<string, string>;
  private static readonly silenceFrame = Buffer.alloc(FRAME_BYTES, SILENCE_BYTE);
  private static readonly silencePayload = FakeMediaCall.silenceFrame.toString('base64');
  private readonly streamSidJson: string;

  constructor(ws: WebSocket, opts: ConnectMediaStreamOptions) {
    this.ws = ws;
    this.callSid = opts.callSid ?? newSid('CA');
    this.accountSid = opts.accountSid ?? newSid('AC');
    this.streamSid = opts.streamSid ?? newSid('MZ');
    this.streamSidJson = JSON.stringify(this.streamSid);
    this.fast = opts.fast ?? false;
    this.idleSilence = opts.idleSilence ?? true;
    this.recordAudio = opts.recordAudio ?? false;
    this.tracks = opts.tracks ?? ['inbound'];
    this.customParameters = opts.customParameters ?? {};
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString(), at: mediaClock() };
      this.stopTimer();
      for (const item of this.inbound) item.done();
      this.inbound.length = 0;
      this.notify();
    });
    ws.on('error', () => {
      // a dropped socket also emits 'close', which is what tests observe
    });
    const tickMs = opts.tickMs ?? 20;
    this.lastPlayAt = mediaClock();
    this.timer = setInterval(() => this.tick(), tickMs);
  }

  /** Send `connected` and `start` (done automatically unless `autoStart: false`). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.sendJson({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    this.sendJson({
      event: 'start',
      sequenceNumber: this.nextSeq(),
      streamSid: this.streamSid,
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks: this.tracks,
        customParameters: this.customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    this.nextInboundAt = mediaClock() + 20;
  }

  /** Caller audio (μ-law), sliced into 20 ms `media` frames; resolves once every frame is sent. */
  sendAudio(buf: Buffer, opts: SendAudioOptions = {}): Promise<void> {
    const rec: SentAudio = { kind: opts.kind ?? 'audio', bytes: buf.length };
    this.sent.push(rec);
    if (opts.fast ?? this.fast) {
      rec.startedAt = mediaClock();
      for (let off = 0; off < buf.length; off += FRAME_BYTES) this.sendFrame(buf.subarray(off, off + FRAME_BYTES));
      rec.endedAt = mediaClock();
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      if (this.closed) return resolve();
      if (this.inbound.length === 0 && !this.idleSilence) this.nextInboundAt = Math.max(this.nextInboundAt, mediaClock());
      this.inbound.push({ buf, off: 0, rec, done: resolve });
    });
  }

  /** `ms` of a tone the Deepgram fake hears as speech. */
  say(ms: number, opts: SendAudioOptions & { hz?: number; amplitude?: number } = {}): Promise<void> {
    return this.sendAudio(tone(ms, opts.hz ?? 220, opts.amplitude ?? 8000), { ...opts, kind: 'speech' });
  }

  /** `ms` of explicit silence frames. */
  silence(ms: number, opts: SendAudioOptions = {}): Promise<void> {
    return this.sendAudio(Buffer.alloc(Math.round(ms * BYTES_PER_MS), SILENCE_BYTE), { ...opts, kind: 'silence' });
  }

  dtmf(digit: string): void {
    this.sendJson({ event: 'dtmf', sequenceNumber: this.nextSeq(), streamSid: this.streamSid, dtmf: { track: 'inbound_track', digit } });
  }

  /** The caller hung up: Twilio sends `stop` and then closes the socket. */
  stop(opts: { close?: boolean } = {}): void {
    this.sendJson({ event: 'stop', sequenceNumber: this.nextSeq(), streamSid: this.streamSid, stop: { accountSid: this.accountSid, callSid: this.callSid } });
    if (opts.close ?? true) this.close(1000);
  }

  /** Send anything, for malformed-frame tests. */
  sendRaw(data: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  /** Close without `stop` (a dropped stream). */
  close(code = 1000, reason = ''): void {
    this.stopTimer();
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
  }

  /** Drop the TCP connection without a close frame. */
  terminate(): void {
    this.stopTimer();
    this.ws.terminate();
  }

  /** Agent audio still waiting to be played. */
  get pendingPlaybackBytes(): number {
    return this.queuedBytes;
  }

  /** Agent audio played at or after `t` (a mediaClock() value), in bytes. */
  playedBytesSince(t: number): number {
    let n = 0;
    for (let i = this.played.length - 1; i >= 0; i--) {
      const s = this.played[i]!;
      if (s.at < t) break;
      n += s.bytes;
    }
    return n;
  }

  /** When the first caller speech frame went out (undefined before any). */
  get firstSpeechAt(): number | undefined {
    return this.sent.find((s) => s.kind === 'speech' && s.startedAt !== undefined)?.startedAt;
  }

  messagesOf(event: string): ReceivedMessage[] {
    return this.received.filter((m) => m.event === event);
  }

  /** Resolves when `pred(this)` holds; re-checked on every received message, played tick and close. */
  waitFor(pred: (call: this) => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
    if (pred(this)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = {
        pred: () => pred(this),
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(w);
          reject(new Error(`fake twilio media: timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  waitForPlayedBytes(n: number, timeoutMs = 2000): Promise<void> {
    return this.waitFor((c) => c.playedBytes >= n, timeoutMs, `${n} played bytes (have ${this.playedBytes})`);
  }

  waitForReceivedBytes(n: number, timeoutMs = 2000): Promise<void> {
    return this.waitFor((c) => c.receivedAudioBytes >= n, timeoutMs, `${n} received audio bytes`);
  }

  waitForClear(count = 1, timeoutMs = 2000): Promise<void> {
    return this.waitFor((c) => c.clears.length >= count, timeoutMs, `${count} clear(s)`);
  }

  waitForMark(name: string, timeoutMs = 2000): Promise<MarkEcho> {
    return this.waitFor((c) => c.marks.some((m) => m.name === name), timeoutMs, `mark ${name}`).then(() => this.marks.find((m) => m.name === name)!);
  }

  waitForMessage(event: string, count = 1, timeoutMs = 2000): Promise<ReceivedMessage> {
    return this.waitFor((c) => c.messagesOf(event).length >= count, timeoutMs, `${count} '${event}' message(s)`).then(() => this.messagesOf(event)[count - 1]!);
  }

  /** Resolves when all queued agent audio has played. */
  waitForPlaybackIdle(timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.pendingPlaybackBytes === 0, timeoutMs, 'playback to drain');
  }

  waitForClose(timeoutMs = 2000): Promise<{ code: number; reason: string }> {
    return this.waitFor((c) => c.closed !== null, timeoutMs, 'close').then(() => ({ code: this.closed!.code, reason: this.closed!.reason }));
  }

  // ------------------------------------------------------------------ internals

  private nextSeq(): string {
    this.seq++;
    return String(this.seq);
  }

  private sendJson(msg: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  // The hot path at 300 calls × 50 frames/s: a template instead of JSON.stringify, and the
  // silence payload encoded once. Every value is a string with no characters JSON must escape.
  private sendFrame(frame: Buffer): void {
    this.framesSent++;
    const payload = frame === FakeMediaCall.silenceFrame ? FakeMediaCall.silencePayload : frame.toString('base64');
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(
        `{"event":"media","sequenceNumber":"${this.nextSeq()}","streamSid":${this.streamSidJson},"media":{"track":"inbound","chunk":"${this.framesSent}","timestamp":"${this.mediaMs}","payload":"${payload}"}}`,
      );
    }
    this.mediaMs += Math.round(frame.length / BYTES_PER_MS);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const at = mediaClock();
    let msg: unknown;
    try {
      msg = isBinary ? undefined : JSON.parse(data.toString());
    } catch {
      msg = undefined;
    }
    if (typeof msg !== 'object' || msg === null || typeof (msg as { event?: unknown }).event !== 'string') {
      this.protocolErrors.push(isBinary ? '<binary frame>' : data.toString().slice(0, 200));
      this.notify();
      return;
    }
    const m = msg as Record<string, unknown> & { event: string };
    const streamSid = typeof m.streamSid === 'string' ? m.streamSid : undefined;
    const rec: ReceivedMessage = { at, event: m.event, streamSid, message: m };
    this.received.push(rec);
    if (streamSid !== this.streamSid) {
      this.streamSidMismatches++;
      this.notify();
      return;
    }
    switch (m.event) {
      case 'media': {
        const media = m.media as { payload?: unknown } | undefined;
        const payload = typeof media?.payload === 'string' ? media.payload : '';
        const buf = Buffer.from(payload, 'base64');
        rec.bytes = buf.length;
        rec.message = { ...m, media: { ...(media ?? {}), payload: `<${buf.length} bytes>` } };
        this.receivedAudioBytes += buf.length;
        if (this.recordAudio) this.receivedAudio.push(buf);
        if (buf.length > 0) {
          this.playQueue.push({ kind: 'audio', buf, off: 0 });
          this.queuedBytes += buf.length;
        }
        break;
      }
      case 'mark': {
        const name = (m.mark as { name?: unknown } | undefined)?.name;
        rec.name = typeof name === 'string' ? name : '';
        if (this.playQueue.length === 0) this.echoMark(rec.name, false);
        else this.playQueue.push({ kind: 'mark', name: rec.name });
        break;
      }
      case 'clear': {
        let dropped = 0;
        const pending: string[] = [];
        for (const item of this.playQueue) {
          if (item.kind === 'audio') dropped += item.buf.length - item.off;
          else pending.push(item.name);
        }
        this.playQueue.length = 0;
        this.queuedBytes = 0;
        this.playCredit = 0;
        this.clears.push({ at, droppedBytes: dropped });
        for (const name of pending) this.echoMark(name, true);
        break;
      }
      default:
        this.protocolErrors.push(`unknown event ${m.event}`);
    }
    this.notify();
  }

  private echoMark(name: string, cleared: boolean): void {
    this.marks.push({ name, at: mediaClock(), cleared });
    this.sendJson({ event: 'mark', sequenceNumber: this.nextSeq(), streamSid: this.streamSid, mark: { name } });
  }

  private tick(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const now = mediaClock();
    let changed = false;

    if (this.started) {
      // Catch up on frames due since the last tick, as Twilio's own 20 ms clock would have sent them.
      let budget = 50;
      while (this.nextInboundAt <= now && budget-- > 0) {
        const head = this.inbound[0];
        if (head) {
          head.rec.startedAt ??= now;
          const frame = head.buf.subarray(head.off, head.off + FRAME_BYTES);
          head.off += frame.length;
          this.sendFrame(frame);
          if (head.off >= head.buf.length) {
            head.rec.endedAt = now;
            this.inbound.shift();
            head.done();
          }
        } else if (this.idleSilence) {
          this.sendFrame(FakeMediaCall.silenceFrame);
        } else {
          this.nextInboundAt = now;
          break;
        }
        this.nextInboundAt += 20;
      }
    }

    this.playCredit += (now - this.lastPlayAt) * BYTES_PER_MS;
    this.lastPlayAt = now;
    let played = 0;
    while (this.playQueue.length > 0) {
      const head = this.playQueue[0]!;
      if (head.kind === 'mark') {
        this.playQueue.shift();
        this.echoMark(head.name, false);
        changed = true;
        continue;
      }
      const can = Math.min(Math.floor(this.playCredit) - played, head.buf.length - head.off);
      if (can <= 0) break;
      head.off += can;
      played += can;
      if (head.off >= head.buf.length) this.playQueue.shift();
    }
    if (played > 0) {
      this.playedBytes += played;
      this.queuedBytes -= played;
      this.played.push({ at: now, bytes: played });
      changed = true;
    }
    // Time without queued audio is not banked: playback of the next audio starts in real time.
    this.playCredit = this.playQueue.length === 0 ? 0 : this.playCredit - played;
    if (changed) this.notify();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private notify(): void {
    for (const w of this.waiters) {
      if (w.pred()) {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        w.resolve();
      }
    }
  }
}

/** Dial the agent's media WebSocket as Twilio would; resolves once open (and started, by default). */
export function connectMediaStream(opts: ConnectMediaStreamOptions): Promise<FakeMediaCall> {
  return new Promise<FakeMediaCall>((resolve, reject) => {
    const ws = new WebSocket(opts.url, { headers: opts.headers, perMessageDeflate: false, handshakeTimeout: opts.connectTimeoutMs ?? 5000 });
    const fail = (err: Error): void => {
      ws.removeAllListeners('open');
      reject(err);
    };
    ws.once('error', fail);
    ws.once('open', () => {
      ws.off('error', fail);
      const call = new FakeMediaCall(ws, opts);
      if (opts.autoStart ?? true) call.start();
      resolve(call);
    });
  });
}
