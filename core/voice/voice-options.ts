/** Tunables of the turn-taking and pacing; defaults suit phone calls. */
export interface VoiceOptions {
  /** Agent audio kept queued at Twilio; also the most the caller hears after a pause. */
  leadMs: number;
  /** Outbound media message size (20 ms = one Twilio frame, or 40). */
  frameMs: number;
  /** After SpeechStarted, how long to wait for words before treating it as noise and resuming. */
  bargeInWindowMs: number;
  /**
   * A turn taken on a stable final is speculative for at least this long: if the caller goes on meanwhile (or
   * before the reply's first clause, whichever is later) the request is withdrawn. See speculative-turn.ts.
   */
  commitHoldMs: number;
  maxToolSteps: number;
  fillerAfterMs: number;
  minClauseChars: number;
  /** Keypad digits end a caller turn after this long without another digit (or on `#`). */
  dtmfIdleMs: number;
  /** The human key pressed alone, with no digit after it for this long, transfers. */
  humanKeyWaitMs: number;
  /** Caller audio kept while the STT (re)connects. */
  sttBufferMs: number;
  /** A flushed clause with no TTS audio for this long is a stalled TTS. */
  ttsStallMs: number;
  /** Longest wait for a closing line to play before hanging up anyway (beyond its own length). */
  closingGraceMs: number;
  /** Defaults when the tenant config has none. */
  silencePromptSec: number;
  maxCallSec: number;
  stateTtlSec: number;
  /** On shutdown, how long live calls may run on before they are ended. */
  drainGraceMs: number;
}

export const DEFAULT_VOICE_OPTIONS: VoiceOptions = {
  leadMs: 80, frameMs: 20, bargeInWindowMs: 1000, commitHoldMs: 200, maxToolSteps: 5, fillerAfterMs: 700, minClauseChars: 12,
  dtmfIdleMs: 2500, humanKeyWaitMs: 1500, sttBufferMs: 10_000, ttsStallMs: 4000, closingGraceMs: 2000,
  silencePromptSec: 10, maxCallSec: 900, stateTtlSec: 3600, drainGraceMs: 10_000,
};
