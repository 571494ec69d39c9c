import { performance } from 'node:perf_hooks';
import type { Breaker } from '../resilience/index.js';
import type { TtsProvider, TtsSession } from '../sdk/index.js';
import type { MediaLink } from '../telephony/media-link.js';
import { wordPrefix } from './clauses.js';
import { OutboundAudio, type Pacer, type Segment, type SegmentKind } from './pacer.js';
import type { ProviderGuards } from './providers.js';

/** What agent speech tells the session (turn timing, silence timer, fault handling). */
export interface AgentSpeechHooks {
  /** Every TTS chunk, with the clause it belongs to. */
  audio(seg: Segment, now: number): void;
  /** The first frame of a segment went out to the caller. */
  firstFrame(seg: Segment, now: number): void;
  /** Nothing queued or playing any more. */
  idle(): void;
  /** The TTS socket failed to open, or reported an error. */
  failed(e: unknown): void;
  /** Flushed text got no TTS audio for `stallMs`. */
  stalled(): void;
}

export interface AgentSpeechInit {
  link: MediaLink;
  pacer: Pacer;
  tts: TtsProvider;
  breaker: Breaker;
  guards: ProviderGuards;
  /** Aborted when the call ends: pending socket opens give up. */
  signal: AbortSignal;
  leadMs: number;
  frameMs: number;
  stallMs: number;
  hooks: AgentSpeechHooks;
}

/**
 * Agent speech out: the TTS socket, the segments it fills clause by clause, their pacing onto the media
 * stream (the shared clock, marks), the stall timer, cached-line playback, and the one exact answer barge-in
 * needs: which words of a reply the caller has heard. Split out of CallSession, which decides *when* the agent
 * speaks or stops; this decides nothing, it says and silences.
 *
 * TTS audio arrives in flush order, so the clauses waiting for it form a queue (`pending`): each chunk belongs
 * to the oldest, each Flushed completes it. Text spoken while no socket is open (at start, after a stall or a
 * language switch) waits in `waiting` and goes out when the socket opens.
 */
export class AgentSpeech {
  readonly out: OutboundAudio;
  private tts: TtsSession | null = null;
  private waiting: Segment[] = [];
  /** Flushed clauses whose audio hasn't completed, in flush order. */
  private pending: Segment[] = [];
  private stall: NodeJS.Timeout | null = null;
  /** A replaced (stalled, or other-language) socket may still deliver a late chunk: only the current one is heard. */
  private gen = 0;
  private ended = false;

  constructor(private readonly o: AgentSpeechInit) {
    this.out = new OutboundAudio(o.link, { leadMs: o.leadMs, frameMs: o.frameMs, maxBufferedBytes: 256 * 1024 });
    this.out.onIdle = () => o.hooks.idle();
    this.out.onFirstFrame = (seg, now) => o.hooks.firstFrame(seg, now);
  }

  /** Something is queued, sending, or playing at the caller. */
  get busy(): boolean { return this.out.busy; }

  /** Joins the shared clock: from here on queued audio is paced out. */
  start(): void {
    this.o.pacer.attach(this.out);
  }

  /** Opens a TTS socket in `voice`; whatever was spoken meanwhile goes out once it is open. */
  open(voice: string | undefined): void {
    const { guards, tts, breaker, signal, hooks } = this.o;
    const gen = ++this.gen;
    guards.openTts({
      tts, breaker, signal, voice,
      onAudio: (b) => { if (gen === this.gen) this.onAudio(b); },
      onFlushed: () => { if (gen === this.gen) this.onFlushed(); },
      onError: (e) => { if (!this.ended && gen === this.gen) hooks.failed(e); },
    }).then((s) => {
      if (this.ended || gen !== this.gen) { void s.close(); return; }
      this.tts = s;
      const waiting = this.waiting;
      this.waiting = [];
      for (const seg of waiting) if (!seg.dropped) this.send(seg);
    }, (e: unknown) => {
      if (!this.ended) hooks.failed(e);
    });
  }

  /**
   * Lets go of the current socket (returned, for the caller to close): nothing more is heard from it, and
   * anything spoken next waits for the next {@link open}. Used on a stall and on a language switch.
   */
  detachSocket(): TtsSession | null {
    const s = this.tts;
    this.tts = null;
    return s;
  }

  /** A clause of the model's reply (or a line without a cached clip), spoken through the TTS socket. */
  speak(kind: SegmentKind, text: string): Segment {
    const seg = this.out.segment(kind, text);
    this.send(seg);
    return seg;
  }

  /** A pre-synthesised clip: queued whole, and its first frame out at once when the line is free. */
  playClip(kind: SegmentKind, text: string, audio: Buffer, now?: number): Segment {
    return this.out.enqueueClip(kind, text, audio, now);
  }

  pause(): void { this.out.pause(); }
  resume(): void { this.out.resume(); }

  /**
   * Silences the agent now: Twilio clear, TTS Clear, nothing waiting. Returns the model text of `segments`
   * the caller has heard (whole clauses, then the played part of one), measured before the clear.
   */
  stop(segments: readonly Segment[], now = performance.now()): string {
    const heard = this.heardText(segments, now);
    this.out.clear(now);
    this.pending = [];
    this.waiting = [];
    this.clearStall();
    this.tts?.clear();
    return heard;
  }

  /** Resolves once everything queued has played (or its length plus `graceMs` passed). */
  whenIdle(graceMs: number): Promise<void> {
    return this.out.whenIdle(graceMs);
  }

  /** Leaves the clock, drops unsent audio and closes the socket; resolves when the socket is closed. */
  close(): Promise<void> {
    this.ended = true;
    this.clearStall();
    this.o.pacer.detach(this.out);
    this.out.close();
    const s = this.detachSocket();
    return s ? s.close() : Promise.resolve();
  }

  private heardText(segments: readonly Segment[], now: number): string {
    let s = '';
    for (const seg of segments) {
      if (seg.kind !== 'model') continue;
      const f = this.out.heardFraction(seg, now);
      if (f >= 1 && seg.complete) { s += seg.text; continue; }
      s += wordPrefix(seg.text, f);
      break;
    }
    return s;
  }

  private send(seg: Segment): void {
    const tts = this.tts;
    if (!tts) { this.waiting.push(seg); return; }
    this.pending.push(seg);
    tts.speak(seg.text.trim());
    tts.flush();
    this.armStall();
  }

  private onAudio(buf: Buffer): void {
    const seg = this.pending[0];
    if (!seg) return; // audio of a cleared clause
    const now = performance.now();
    this.o.hooks.audio(seg, now);
    this.armStall();
    this.out.append(seg, buf, now);
  }

  private onFlushed(): void {
    const seg = this.pending.shift();
    if (seg) this.out.complete(seg);
    if (this.pending.length === 0) this.clearStall();
  }

  private armStall(): void {
    if (this.stall) { this.stall.refresh(); return; }
    this.stall = setTimeout(() => {
      this.stall = null;
      if (this.pending.length > 0 && !this.ended) this.o.hooks.stalled();
    }, this.o.stallMs);
    this.stall.unref();
  }

  private clearStall(): void {
    if (this.stall) { clearTimeout(this.stall); this.stall = null; }
  }
}
