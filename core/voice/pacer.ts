import { performance } from 'node:perf_hooks';

/** μ-law at 8 kHz: 8 bytes per ms; a Twilio frame is 20 ms. */
export const BYTES_PER_MS = 8;
export const FRAME_BYTES = 160;

/** Where paced audio goes (the call's MediaLink, or a test double). */
export interface AudioSink {
  sendAudio(mulaw: Buffer): void;
  sendMark(name: string): void;
  clear(): void;
  readonly bufferedAmount: number;
}

export type SegmentKind = 'greeting' | 'model' | 'line';

/** One stretch of agent audio that ends with a mark: a greeting, a model clause or a scripted line. */
export class Segment {
  /** Audio received and not yet sent, oldest first; `headOff` is the read position in chunks[0]. */
  private chunks: Buffer[] = [];
  private headOff = 0;
  unsentBytes = 0;
  receivedBytes = 0;
  sentBytes = 0;
  /** Byte offset of this segment's first byte in the stream's outbound total (-1 until sent). */
  startPos = -1;
  /** No more audio will come (TTS Flushed, or a whole cached line). */
  complete = false;
  markSent = false;
  /** Twilio echoed the mark after playing every byte (not an echo caused by `clear`). */
  played = false;
  dropped = false;
  firstByteAt: number | undefined;
  firstSentAt: number | undefined;
  readonly mark: string;
  onPlayed: (() => void) | undefined;

  constructor(readonly id: number, readonly kind: SegmentKind, readonly text: string) {
    this.mark = `${kind[0]}${id}`;
  }

  append(buf: Buffer, now: number): void {
    if (buf.length === 0) return;
    this.firstByteAt ??= now;
    this.chunks.push(buf);
    this.unsentBytes += buf.length;
    this.receivedBytes += buf.length;
  }

  /** The next frame, or null when a whole frame isn't buffered yet and more audio is coming. */
  takeFrame(size = FRAME_BYTES): Buffer | null {
    if (this.unsentBytes === 0 || (this.unsentBytes < size && !this.complete)) return null;
    const n = Math.min(size, this.unsentBytes);
    const head = this.chunks[0]!;
    let frame: Buffer;
    if (head.length - this.headOff >= n) {
      // The common case: no copy, a view on the TTS chunk.
      frame = head.subarray(this.headOff, this.headOff + n);
      this.headOff += n;
      if (this.headOff === head.length) { this.chunks.shift(); this.headOff = 0; }
    } else {
      frame = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const take = Math.min(n - filled, c.length - this.headOff);
        c.copy(frame, filled, this.headOff, this.headOff + take);
        filled += take;
        this.headOff += take;
        if (this.headOff === c.length) { this.chunks.shift(); this.headOff = 0; }
      }
    }
    this.unsentBytes -= n;
    return frame;
  }

  drop(): void {
    this.dropped = true;
    this.chunks = [];
    this.headOff = 0;
    this.unsentBytes = 0;
  }
}

export interface PacerStats {
  framesSent: number;
  /** Frames sent after the caller's playback buffer had run dry mid-segment (an audible gap). */
  underruns: number;
  underrunMs: number;
}

/**
 * A call's outbound audio: segments in order, sent as 20 ms frames while Twilio holds less than `leadMs`
 * of it. Twilio plays at real time, so the bytes it holds are modelled by `playEnd` (when the last byte
 * sent will finish playing): pausing stops at most `leadMs` later with nothing lost or repeated, and the
 * caller's heard position is exact to a frame.
 */
export class OutboundAudio {
  private readonly queue: Segment[] = [];
  /** Sent (mark pending) segments, by mark name. */
  private readonly inFlight = new Map<string, Segment>();
  private nextId = 0;
  private paused = false;
  /** The next frame follows a deliberate pause: the gap before it is not an underrun. */
  private resumed = false;
  private closed = false;
  private playEnd = 0;
  private sentTotal = 0;
  readonly stats: PacerStats = { framesSent: 0, underruns: 0, underrunMs: 0 };
  /** Called when nothing is queued or awaiting its mark any more. */
  onIdle: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Called with the first frame of each segment (metrics: first audio out). */
  onFirstFrame: ((seg: Segment, now: number) => void) | undefined;

  private readonly frameBytes: number;

  /**
   * `frameMs` is the outbound message size: 20 ms (one Twilio frame) or a small multiple. Larger messages
   * halve the socket writes per call at the price of a coarser lead (the lead then varies by one message).
   */
  constructor(private readonly sink: AudioSink, private readonly o: { leadMs: number; frameMs?: number; maxBufferedBytes?: number }) {
    this.frameBytes = Math.round((o.frameMs ?? 20) * BYTES_PER_MS);
  }

  /** Something is queued, sending, or playing at Twilio. */
  get busy(): boolean { return this.queue.length > 0 || this.inFlight.size > 0; }
  get isPaused(): boolean { return this.paused; }
  get hasPending(): boolean { return !this.paused && !this.closed && this.queue.length > 0; }

  segment(kind: SegmentKind, text: string): Segment {
    const seg = new Segment(this.nextId++, kind, text);
    this.queue.push(seg);
    return seg;
  }

  /** A whole clip (cached line or greeting): queued complete and started at once if the line is free. */
  enqueueClip(kind: SegmentKind, text: string, audio: Buffer, now = performance.now()): Segment {
    const seg = this.segment(kind, text);
    seg.append(audio, now);
    seg.complete = true;
    this.pump(now);
    return seg;
  }

  append(seg: Segment, buf: Buffer, now = performance.now()): void {
    if (seg.dropped || this.closed) return;
    seg.append(buf, now);
    // Sending right away (instead of on the next tick) is what keeps first-audio-out latency at zero.
    if (seg === this.queue[0]) this.pump(now);
  }

  complete(seg: Segment, now = performance.now()): void {
    if (seg.dropped) return;
    seg.complete = true;
    if (seg === this.queue[0]) this.pump(now);
  }

  pause(): void { this.paused = true; }

  resume(now = performance.now()): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumed = true;
    this.pump(now);
  }

  /** Bytes the caller has heard so far, across the call (model of Twilio's playout). */
  playedTotal(now = performance.now()): number {
    return this.sentTotal - Math.max(0, Math.round((this.playEnd - now) * BYTES_PER_MS));
  }

  /** How much of `seg` the caller has heard, 0..1 of the audio received for it. */
  heardFraction(seg: Segment, now = performance.now()): number {
    if (seg.played) return 1;
    if (seg.startPos < 0 || seg.receivedBytes === 0) return 0;
    const played = Math.min(seg.sentBytes, Math.max(0, this.playedTotal(now) - seg.startPos));
    // Until TTS finished the clause its length is unknown; bytes received so far is the best lower bound.
    return played / seg.receivedBytes;
  }

  /** Drops everything unsent and tells Twilio to drop what it holds. Returns the dropped segments. */
  clear(now = performance.now()): Segment[] {
    const dropped = [...this.inFlight.values(), ...this.queue];
    for (const s of dropped) s.drop();
    this.queue.length = 0;
    this.inFlight.clear();
    this.playEnd = now;
    this.sink.clear();
    this.paused = false;
    this.notifyIdle();
    return dropped;
  }

  onMark(name: string): void {
    const seg = this.inFlight.get(name);
    if (!seg) return; // cleared, or not ours
    this.inFlight.delete(name);
    seg.played = true;
    seg.onPlayed?.();
    if (!this.busy) this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
    this.onIdle?.();
  }

  /** Resolves when everything queued has played (marks echoed), or after the audio's length plus `graceMs`. */
  whenIdle(graceMs: number, now = performance.now()): Promise<void> {
    if (!this.busy || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      let done = false;
      const finish = (): void => { if (!done) { done = true; clearTimeout(t); resolve(); } };
      const t = setTimeout(finish, this.pendingMs(now) + graceMs);
      this.idleWaiters.push(finish);
    });
  }

  /** Audio still to be heard: queued here plus held at Twilio (TTS audio not yet received is not counted). */
  pendingMs(now = performance.now()): number {
    let unsent = 0;
    for (const s of this.queue) unsent += s.unsentBytes;
    return unsent / BYTES_PER_MS + Math.max(0, this.playEnd - now);
  }

  close(): void {
    this.closed = true;
    for (const s of this.queue) s.drop();
    this.queue.length = 0;
    this.inFlight.clear();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Sends frames until Twilio holds `leadMs` of audio. Called by the shared clock and on new audio. */
  pump(now: number): void {
    if (this.paused || this.closed) return;
    if (this.o.maxBufferedBytes !== undefined && this.sink.bufferedAmount > this.o.maxBufferedBytes) return;
    const lead = this.o.leadMs;
    for (;;) {
      const seg = this.queue[0];
      if (!seg) return;
      if (this.playEnd - now >= lead) return;
      const frame = seg.takeFrame(this.frameBytes);
      if (frame) {
        if (seg.startPos < 0) {
          seg.startPos = this.sentTotal;
          seg.firstSentAt = now;
          this.onFirstFrame?.(seg, now);
        } else if (this.playEnd < now - 1 && !this.resumed) {
          this.stats.underruns++;
          this.stats.underrunMs += now - this.playEnd;
        }
        this.resumed = false;
        this.sink.sendAudio(frame);
        seg.sentBytes += frame.length;
        this.sentTotal += frame.length;
        this.stats.framesSent++;
        this.playEnd = Math.max(this.playEnd, now) + frame.length / BYTES_PER_MS;
      }
      if (seg.complete && seg.unsentBytes === 0) {
        this.queue.shift();
        seg.markSent = true;
        this.inFlight.set(seg.mark, seg);
        this.sink.sendMark(seg.mark);
        continue;
      }
      if (!frame) return;
    }
  }
}

/**
 * ONE clock for every call in the process (docs/architecture.md §6): a single timer tops up each call's lead. A timer
 * per call would be 300 timers firing 50 times a second; this is one.
 */
/** Something with work that must not wait for the next frame (held caller audio), run on the shared clock. */
export interface Tickable { tick(now: number): void }

export class Pacer {
  private readonly streams = new Set<OutboundAudio>();
  private readonly tickables = new Set<Tickable>();
  private timer: NodeJS.Timeout | null = null;
  readonly tickMs: number;

  constructor(o: { tickMs?: number } = {}) {
    this.tickMs = o.tickMs ?? 10;
  }

  get size(): number { return this.streams.size; }

  attach(s: OutboundAudio): void {
    this.streams.add(s);
    this.ensureTimer();
  }

  detach(s: OutboundAudio): void {
    this.streams.delete(s);
    this.stopIfIdle();
  }

  /** Runs `t.tick` on every tick until `untick` (cheap to call often: a Set add/delete). */
  onTick(t: Tickable): void {
    this.tickables.add(t);
    this.ensureTimer();
  }

  untick(t: Tickable): void {
    this.tickables.delete(t);
    this.stopIfIdle();
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  private stopIfIdle(): void {
    if (this.streams.size === 0 && this.tickables.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = performance.now();
    for (const s of this.streams) if (s.hasPending) s.pump(now);
    for (const t of this.tickables) t.tick(now);
  }
}

let shared: Pacer | undefined;
/** The process-wide pacer. */
export function sharedPacer(): Pacer {
  shared ??= new Pacer();
  return shared;
}
