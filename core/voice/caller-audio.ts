import { performance } from 'node:perf_hooks';
import type { SttSession } from '../sdk/index.js';
import { mulawLevel } from './mulaw-level.js';
import type { Pacer } from './pacer.js';

/** Below this mean |PCM| a frame is line noise or silence (speech on a phone line is well above 1000). */
const QUIET_LEVEL = 200;
/** At most 60 ms of quiet audio held back per STT write. */
const QUIET_BATCH_BYTES = 480;

/**
 * Caller audio in: the hot path of every call (media socket → here → STT), split out of CallSession. One
 * direction, no return trips: a frame is forwarded unchanged to the STT session, batched while quiet, and kept
 * (newest first) while the STT socket is (re)connecting, so nothing the caller says is lost to a reconnect.
 */
export class CallerAudio {
  framesIn = 0;
  /** STT socket writes (quiet frames are batched, so fewer than framesIn). */
  sttWrites = 0;
  private stt: SttSession | null = null;
  private buffer: Buffer[] | null = [];
  private bufferBytes = 0;
  private quiet: Buffer[] = [];
  private quietBytes = 0;
  private quietSince = 0;

  constructor(private readonly o: { pacer: Pacer; bufferMs: number }) {}

  push(mulaw: Buffer): void {
    this.framesIn++;
    const s = this.stt;
    if (s) {
      // Every STT write is a socket syscall, the largest CPU cost per call. Quiet frames are held and sent a
      // few at a time; a frame with sound goes out at once (with the held ones), so speech onset and
      // barge-in detection are never delayed, only an end-of-turn silence by at most the batch.
      if (mulawLevel(mulaw) < QUIET_LEVEL && this.quietBytes + mulaw.length < QUIET_BATCH_BYTES) {
        if (this.quiet.length === 0) {
          this.quietSince = performance.now();
          this.o.pacer.onTick(this.quietFlusher);
        }
        this.quiet.push(mulaw);
        this.quietBytes += mulaw.length;
        return;
      }
      this.sttWrites++;
      if (this.quiet.length === 0) { s.push(mulaw); return; }
      this.quiet.push(mulaw);
      this.quietBytes += mulaw.length;
      this.flushQuiet(s);
      return;
    }
    if (this.buffer) {
      this.buffer.push(mulaw);
      this.bufferBytes += mulaw.length;
      // Keep the newest audio: a reconnect that takes longer than the buffer loses the oldest, not the latest.
      while (this.bufferBytes > this.o.bufferMs * 8 && this.buffer.length > 1) this.bufferBytes -= this.buffer.shift()!.length;
    }
  }

  /** The STT session is open: what was kept meanwhile goes first, then every frame as it comes. */
  attach(s: SttSession): void {
    this.stt = s;
    const kept = this.buffer ?? [];
    this.buffer = null;
    this.bufferBytes = 0;
    for (const b of kept) s.push(b);
  }

  /** The STT session is gone: `keep` audio until the next attach (a reconnect), or drop it (a closed STT). */
  detach(keep: boolean): void {
    this.stt = null;
    if (keep) this.buffer ??= [];
    this.dropQuiet();
  }

  close(): void {
    this.stt = null;
    this.buffer = null;
    this.dropQuiet();
  }

  private dropQuiet(): void {
    this.quiet = [];
    this.quietBytes = 0;
    this.o.pacer.untick(this.quietFlusher);
  }

  /** Sends held quiet frames (with whatever was appended) as one write. */
  private flushQuiet(s: SttSession): void {
    s.push(this.quiet.length === 1 ? this.quiet[0]! : Buffer.concat(this.quiet, this.quietBytes));
    this.dropQuiet();
  }

  /** Held quiet audio never waits longer than a batch, even if the stream pauses (the shared clock checks). */
  private readonly quietFlusher = {
    tick: (now: number): void => {
      if (this.quiet.length === 0 || now - this.quietSince < QUIET_BATCH_BYTES / 8) return;
      const s = this.stt;
      if (s) { this.sttWrites++; this.flushQuiet(s); } else this.dropQuiet();
    },
  };
}
