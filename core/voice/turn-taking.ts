import { performance } from 'node:perf_hooks';
import type { TranscriptEvent } from '../sdk/index.js';
import { isRealSpeech } from './backchannel.js';
import type { BargeInEvent, CallStatus, TurnTiming } from './call-events.js';
import type { TurnSink } from './conversation.js';
import { looksUnfinished } from './end-of-turn.js';
import type { Segment } from './pacer.js';
import type { SpeculativeTurn } from './speculative-turn.js';

/** One agent turn: the caller's words it answers, its gate (speculative-turn.ts), what it queued to say. */
export interface AgentTurn {
  timing: TurnTiming;
  segments: Segment[];
  /** The `turn` event went out (first model audio, or a reply with nothing to say). */
  emitted: boolean;
  /** The caller's words the request carries. */
  text: string;
  gate: SpeculativeTurn;
  sink: TurnSink;
}

/** What turn-taking asks of the session: the agent's floor, and the actions its decisions lead to. */
export interface TurnTakingHooks {
  /** The agent is talking, or a reply is being generated. */
  agentHasFloor(): boolean;
  /** A reply is being generated (the silence timer waits for it). */
  generating(): boolean;
  pauseAgent(): void;
  resumeAgent(): void;
  /** Real speech over the agent: silence it and cut its context to what was heard. */
  interruptAgent(): { heard: string; llmAborted: boolean };
  /** A barge-in was decided (speech, backchannel or noise). */
  bargeIn(e: BargeInEvent): void;
  /** The caller's turn is over: ask the model (`speculative`: hold the reply until the turn commits). */
  startTurn(text: string, speculative: boolean): void;
  /** A speculative turn was withdrawn (the caller went on): its request must leave no trace. */
  withdrawn(turn: AgentTurn): void;
  /** The caller said nothing for the silence timeout: the first time, or again after the prompt. */
  silence(first: boolean): void;
  dtmf(digit: string): void;
  /** A digit before the caller's first turn: true if it switched the call's language. */
  languageDigit(digit: string): boolean;
  /** The tenant's "talk to a person" key, pressed alone. */
  humanKey(): void;
}

export interface TurnTakingInit {
  status: Readonly<CallStatus>;
  hooks: TurnTakingHooks;
  bargeInWindowMs: number;
  dtmfIdleMs: number;
  humanKeyWaitMs: number;
  /** 0 turns the silence prompt off. */
  silenceSec: number;
  humanDtmfKey?: string;
}

/**
 * Turn-taking: who has the floor. Collects the caller's finals and keypad digits into a turn, decides when it
 * ends (a stable final that can end a request, UtteranceEnd, `#`, the keypad timeout: end-of-turn.ts), keeps
 * the speculative turn (withdrawn if the caller goes on: speculative-turn.ts), decides barge-ins (speech over
 * the agent pauses it; words confirm, a backchannel or noise resumes it) and runs the silence timer. It owns
 * no audio and no provider; the session acts on what it decides.
 */
export class TurnTaking {
  /** The current agent turn (pending, committed or done); null after a withdrawal. */
  current: AgentTurn | null = null;
  /** Committed caller turns so far. */
  count = 0;
  private userParts: string[] = [];
  private dtmfDigits = '';
  private dtmfTimer: NodeJS.Timeout | null = null;
  private humanKeyTimer: NodeJS.Timeout | null = null;
  private barge: { startedAt: number; text: string; timer: NodeJS.Timeout } | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private silencePrompts = 0;

  constructor(private readonly o: TurnTakingInit) {}

  private get h(): TurnTakingHooks { return this.o.hooks; }

  /** Ended, closing or handling a fault: caller input no longer makes turns. */
  private get settled(): boolean {
    const s = this.o.status;
    return s.ended || s.closing || s.failing;
  }

  // ------------------------------------------------------------------ transcripts

  onTranscript(e: Exclude<TranscriptEvent, { type: 'closed' }>): void {
    switch (e.type) {
      case 'speech_started':
        this.onSpeechStarted();
        return;
      case 'interim':
        this.resetSilence();
        if (e.text) this.withdrawPending();
        if (this.barge && isRealSpeech(`${this.barge.text} ${e.text}`, { partial: true })) {
          // Finals already in (e.g. "Wait,") belong to the caller's turn; the interim's words come again as a final.
          const said = this.barge.text.trim();
          this.confirmBargeIn();
          if (said) this.userParts.push(said);
        }
        return;
      case 'final':
        this.onFinal(e.text.trim(), e.speechFinal);
        return;
      case 'utterance_end':
        if (this.barge) this.resolveBarge(this.barge.text.trim() ? 'backchannel' : 'noise');
        else if (this.userParts.length) this.endUserTurn();
        return;
    }
  }

  private onSpeechStarted(): void {
    this.resetSilence();
    // Nothing was said yet for a speculative turn: the caller going on just withdraws it, no barge-in.
    if (this.withdrawPending()) return;
    const s = this.o.status;
    if (s.closing || s.failing || this.barge || !this.h.agentHasFloor()) return;
    const now = performance.now();
    // Stop sending at once; Twilio plays out at most the lead. Resuming later continues at the next byte.
    this.h.pauseAgent();
    this.barge = { startedAt: now, text: '', timer: setTimeout(() => this.resolveBarge('noise'), this.o.bargeInWindowMs) };
    this.barge.timer.unref();
  }

  private onFinal(text: string, speechFinal: boolean): void {
    this.resetSilence();
    if (this.barge) {
      if (text) this.barge.text += ` ${text}`;
      if (isRealSpeech(this.barge.text)) {
        const said = this.barge.text.trim();
        this.confirmBargeIn();
        this.userParts.push(said);
        if (speechFinal) this.maybeEndTurn();
      } else if (speechFinal || !text) {
        this.resolveBarge(this.barge.text.trim() ? 'backchannel' : 'noise');
      }
      return;
    }
    if (text) {
      this.withdrawPending();
      this.userParts.push(text);
    }
    if (speechFinal && this.userParts.length) this.maybeEndTurn();
  }

  /**
   * A stable final: the turn ends now (speculatively) unless the words so far can't end a request, in which
   * case more words or the STT's UtteranceEnd decide (end-of-turn.ts).
   */
  private maybeEndTurn(): void {
    if (looksUnfinished(this.userParts.join(' '))) return;
    this.endUserTurn(true);
  }

  // ------------------------------------------------------------------ keypad

  onDtmf(digit: string): void {
    if (this.settled) return;
    if (!/^[0-9*#A-D]$/.test(digit)) return;
    this.resetSilence();
    this.h.dtmf(digit);
    if (this.humanKeyTimer) { clearTimeout(this.humanKeyTimer); this.humanKeyTimer = null; }
    if (digit === '#') { this.endUserTurn(); return; }
    if (digit === '*') { this.dtmfDigits = ''; return; }
    this.withdrawPending();
    // The greeting's "para español, oprima dos": only before the caller's first turn, so digits of a ZIP
    // code or a phone number later in the call are never taken for a language choice.
    if (this.count === 0 && this.dtmfDigits === '' && this.h.languageDigit(digit)) return;
    this.dtmfDigits += digit;
    if (this.dtmfDigits.length > 32) this.dtmfDigits = this.dtmfDigits.slice(-32);
    const humanKey = this.o.humanDtmfKey;
    if (humanKey && this.dtmfDigits === humanKey) {
      // Alone it means "a person, please"; followed by more digits it was the start of a number.
      this.humanKeyTimer = setTimeout(() => {
        this.humanKeyTimer = null;
        if (this.dtmfDigits === humanKey) { this.dtmfDigits = ''; this.h.humanKey(); }
      }, this.o.humanKeyWaitMs);
      return;
    }
    if (this.dtmfTimer) clearTimeout(this.dtmfTimer);
    this.dtmfTimer = setTimeout(() => {
      this.dtmfTimer = null;
      // Speech in progress takes the digits along when it ends; otherwise the digits are the turn.
      if (this.userParts.length === 0 && !this.barge) this.endUserTurn();
    }, this.o.dtmfIdleMs);
  }

  // ------------------------------------------------------------------ turns

  /**
   * The caller's turn is over: `speculative` on a stable final (the request goes out now, the reply is held
   * until the turn commits), not on UtteranceEnd, `#` or the keypad timeout (committed at once). The same
   * words never make a second request: a later end of the same turn just commits the speculative one.
   */
  private endUserTurn(speculative = false): void {
    if (this.dtmfTimer) { clearTimeout(this.dtmfTimer); this.dtmfTimer = null; }
    const speech = this.userParts.join(' ').trim();
    const digits = this.dtmfDigits;
    const text = digits ? `${speech} (keypad: ${digits})`.trim() : speech;
    if (!text || this.settled) return;
    const pending = this.current?.gate.pending ? this.current : null;
    if (pending) {
      if (pending.text === text) { if (!speculative) pending.gate.commit(); return; }
      this.withdrawPending();
    }
    this.h.startTurn(text, speculative);
  }

  /** The turn is the caller's for good: its words leave the buffer and it is counted. Returns its number. */
  committed(): number {
    this.userParts = [];
    this.dtmfDigits = '';
    return ++this.count;
  }

  /** The caller went on before a speculative turn was committed: withdraw it. True if there was one. */
  withdrawPending(): boolean {
    const t = this.current;
    if (!t || !t.gate.pending) return false;
    t.gate.withdraw();
    this.h.withdrawn(t);
    this.current = null;
    return true;
  }

  // ------------------------------------------------------------------ barge-in

  /** Backchannel or noise: the agent goes on exactly where it paused. */
  private resolveBarge(kind: 'backchannel' | 'noise'): void {
    const b = this.barge;
    if (!b) return;
    clearTimeout(b.timer);
    this.barge = null;
    this.h.resumeAgent();
    this.h.bargeIn({ kind, speechStartedAt: b.startedAt, decidedAt: performance.now(), paused: true });
    if (!this.h.agentHasFloor()) this.armSilence();
  }

  /** Real speech over the agent: Twilio clear, TTS Clear, LLM aborted, context cut to what was heard. */
  private confirmBargeIn(): void {
    const b = this.barge;
    if (!b) return;
    clearTimeout(b.timer);
    this.barge = null;
    const { heard, llmAborted } = this.h.interruptAgent();
    this.h.bargeIn({ kind: 'speech', speechStartedAt: b.startedAt, decidedAt: performance.now(), paused: true, heard, llmAborted });
  }

  /** A fault takes over: an undecided barge-in is forgotten (the agent is being stopped anyway). */
  dropBarge(): void {
    if (this.barge) { clearTimeout(this.barge.timer); this.barge = null; }
  }

  // ------------------------------------------------------------------ silence

  /** The agent is idle: start the silence timer, unless the caller is mid-turn or a reply is coming. */
  armSilence(): void {
    if (this.settled || this.h.generating() || this.barge || this.userParts.length) return;
    const sec = this.o.silenceSec;
    if (!sec) return;
    this.clearSilence();
    this.silenceTimer = setTimeout(() => this.onSilence(), sec * 1000);
    this.silenceTimer.unref();
  }

  clearSilence(): void {
    if (this.silenceTimer) { clearTimeout(this.silenceTimer); this.silenceTimer = null; }
  }

  private resetSilence(): void {
    this.silencePrompts = 0;
    this.clearSilence();
  }

  private onSilence(): void {
    this.silenceTimer = null;
    if (this.settled || this.h.agentHasFloor()) return;
    this.h.silence(this.silencePrompts++ === 0);
  }

  /** The call ended: every timer stops, and a turn not yet committed never will be. */
  close(): void {
    this.current?.gate.withdraw();
    this.dropBarge();
    for (const t of [this.silenceTimer, this.dtmfTimer, this.humanKeyTimer]) if (t) clearTimeout(t);
    this.silenceTimer = this.dtmfTimer = this.humanKeyTimer = null;
  }
}
