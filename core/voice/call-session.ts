import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Breaker } from '../resilience/index.js';
import { isServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { isPluginError, PluginError, type SttProvider, type SttSession, type TranscriptEvent, type TtsProvider, type TtsSession } from '../sdk/index.js';
import type { StateStore } from '../state/store.js';
import type { CallHandler, CallStart, MediaLink } from '../telephony/media-link.js';
import type { CallIdentity } from '../tools/identity.js';
import { isRealSpeech } from './backchannel.js';
import { CallerAudio } from './caller-audio.js';
import { CallEventLog } from './call-log.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import { wordPrefix } from './clauses.js';
import { Conversation, type LlmStream, type ToolRunner, type TurnResult, type TurnSink } from './conversation.js';
import type { LineCache } from './line-cache.js';
import type { LineName, ScriptedLines } from './lines.js';
import { OutboundAudio, type Pacer, type Segment } from './pacer.js';
import type { ProviderGuards, VoiceSlot } from './providers.js';
import { crmLogJobId, type CrmLogJob } from './post-call.js';
import { looksUnfinished } from './end-of-turn.js';
import type { CallLanguages } from './language-switch.js';
import { SpeculativeTurn } from './speculative-turn.js';

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

/** Call control (core/telephony's Telephony satisfies it). */
export interface CallControl {
  hangUp(o: { tenantId: string; callSid: string }): Promise<void>;
  transfer(o: { tenantId: string; callSid: string }): Promise<void>;
}

export interface JobsPort {
  enqueue<T>(queue: 'crm-log', data: T, o?: { jobId?: string }): Promise<string>;
}

/**
 * What changes when a caller picks another language, by keypad or by speaking it (core/voice/language-switch.ts
 * resolves it): voice, STT language, cached lines, prompt and greeting.
 */
export interface CallSpeech {
  language: string;
  sttLanguage?: string;
  voice?: string;
  linesSlot: string;
  configKey: string;
  script: ScriptedLines;
}
export interface CallLanguageSwitch extends CallSpeech { systemPrompt: string; greeting: string }

export interface CallSessionInit {
  start: CallStart;
  link: MediaLink;
  tenant: { id: string; name: string; configKey: string; humanDtmfKey?: string; silencePromptSec?: number; maxCallSec?: number; voice?: string; language?: string; linesSlot: string };
  /** The scripted lines in the call's language (core/i18n/call-language.ts). */
  script: ScriptedLines;
  /** The language the call starts in (default `en`). */
  language?: string;
  /** The languages the caller may switch to (keypad before the first turn, or speaking one), if the tenant serves several. */
  languages?: CallLanguages;
  identity: CallIdentity;
  systemPrompt: string;
  greeting: string;
  /** `cached` (default): the tenant's pre-synthesised greeting clip; `tts`: spoken through the TTS socket (a greeting that names the callee). */
  greetingVia?: 'cached' | 'tts';
  model?: string;
  providers: {
    stt: SttProvider; tts: TtsProvider; llm: LlmStream;
    breakers: Record<'stt' | 'tts', Breaker>;
    pluginIds: Record<VoiceSlot, string>;
    guards: ProviderGuards;
  };
  tools: ToolRunner;
  lines: LineCache;
  withTenant: WithTenant;
  state: StateStore;
  jobs?: JobsPort;
  control?: CallControl;
  pacer: Pacer;
  logger: Logger;
  options: VoiceOptions;
}

/** Per-turn latency marks (performance.now() ms), emitted as `turn` once the first model audio went out. */
export interface TurnTiming {
  turn: number;
  sttFinalAt: number;
  llmFirstTokenAt?: number;
  firstClauseAt?: number;
  ttsFirstByteAt?: number;
  firstAudioOutAt?: number;
}

export interface BargeInEvent {
  kind: 'speech' | 'backchannel' | 'noise';
  speechStartedAt: number;
  decidedAt: number;
  /** Agent audio was paused at SpeechStarted. */
  paused: boolean;
  /** speech only: the model text the caller heard, which the context was truncated to. */
  heard?: string;
  /** speech only: an LLM stream was running and got aborted. */
  llmAborted?: boolean;
}

export type EndReason = 'stop' | 'socket_closed' | 'error' | 'drain' | 'end_call' | 'silence' | 'max_duration' | 'provider_failed' | 'transferred';

/**
 * Events, for tests, the bench and the console: `greeting` ({ startAt, firstFrameAt }), `turn` (TurnTiming),
 * `barge_in` (BargeInEvent), `utterance` ({ role, text }), `failed` ({ kind, category }), `ended` ({ reason }).
 */
export interface CallSessionEvents {
  greeting: [{ startAt: number; firstFrameAt: number | undefined }];
  turn: [TurnTiming];
  barge_in: [BargeInEvent];
  utterance: [{ role: 'caller' | 'agent'; text: string }];
  failed: [{ kind: VoiceSlot; category: string }];
  language: [{ language: string }];
  ended: [{ reason: EndReason }];
}

interface AgentTurn {
  timing: TurnTiming;
  segments: Segment[];
  emitted: boolean;
  /** The caller's words the request carries. */
  text: string;
  gate: SpeculativeTurn;
  sink: TurnSink;
}

function errorCategory(e: unknown): string {
  if (isPluginError(e)) return e.category;
  if (isServiceLaneError(e)) return e.code;
  return 'unknown';
}

/**
 * One call, start to cleanup: forwards caller audio to the STT, takes turns on speech_final (UtteranceEnd as
 * the fallback), runs the Conversation, speaks clause by clause through the TTS socket, paces outbound audio
 * on the shared clock, handles barge-in, DTMF, silence, the call-length cap and provider faults, persists
 * events, and closes every provider session on every exit path.
 */
export class CallSession extends EventEmitter<CallSessionEvents> implements CallHandler {
  readonly conversation: Conversation;
  readonly out: OutboundAudio;
  /** Resolves when cleanup finished (drain waits on it). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly ac = new AbortController();
  private readonly log: CallEventLog;
  private readonly lg: Logger;
  private readonly opt: VoiceOptions;
  private ended = false;
  private failing = false;
  /** Voice, STT language and lines of the call's current language (a keypad choice replaces it). */
  private speech: CallSpeech;
  /** A scripted ending (goodbye, transfer, wrap-up) is under way: no new turns or barge-ins. */
  private closing = false;
  private stt: SttSession | null = null;
  private sttGen = 0;
  private sttReopened = false;
  private tts: TtsSession | null = null;
  private ttsWaiting: Segment[] = [];
  /** Flushed clauses whose audio hasn't completed, in flush order (audio arrives in that order). */
  private ttsPending: Segment[] = [];
  private ttsStall: NodeJS.Timeout | null = null;
  private turn: AgentTurn | null = null;
  private turnCount = 0;
  private userParts: string[] = [];
  private dtmf = '';
  private dtmfTimer: NodeJS.Timeout | null = null;
  private humanKeyTimer: NodeJS.Timeout | null = null;
  private barge: { startedAt: number; text: string; timer: NodeJS.Timeout } | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private silencePrompts = 0;
  private maxTimer: NodeJS.Timeout | null = null;
  /** Caller audio in: the per-frame hot path to the STT (caller-audio.ts). */
  private readonly callerAudio: CallerAudio;
  private readonly actions = new Set<string>();
  private outcome: string | null = null;
  private stateDown = false;
  /** Consecutive caller turns that ended in an LLM timeout (see onTurnFailed). */
  private llmTimeouts = 0;
  /** TTS stalls so far; the first one is recovered from (see onTtsStalled). */
  private ttsStalls = 0;
  private ttsGen = 0;
  private stateWrite: Promise<void> = Promise.resolve();
  private readonly stateKey: string;
  private readonly startedAt = Date.now();

  constructor(private readonly o: CallSessionInit) {
    super();
    this.opt = o.options;
    this.lg = o.logger.child({ tenantId: o.start.tenantId, callSid: o.start.callSid });
    this.done = new Promise((r) => { this.resolveDone = r; });
    this.stateKey = `voice:call:${o.start.callSid}`;
    this.speech = {
      language: o.language ?? 'en', sttLanguage: o.tenant.language, voice: o.tenant.voice,
      linesSlot: o.tenant.linesSlot, configKey: o.tenant.configKey, script: o.script,
    };
    this.log = new CallEventLog({ tenantId: o.start.tenantId, callId: o.start.callId, withTenant: o.withTenant, logger: this.lg });
    this.callerAudio = new CallerAudio({ pacer: o.pacer, bufferMs: this.opt.sttBufferMs });
    this.out = new OutboundAudio(o.link, { leadMs: this.opt.leadMs, frameMs: this.opt.frameMs, maxBufferedBytes: 256 * 1024 });
    this.out.onIdle = () => this.onAgentIdle();
    this.out.onFirstFrame = (seg, now) => this.onFirstFrame(seg, now);
    this.conversation = new Conversation({
      llm: o.providers.llm, tools: o.tools, identity: o.identity, systemPrompt: o.systemPrompt, greeting: o.greeting,
      model: o.model, lines: o.script, maxToolSteps: this.opt.maxToolSteps, fillerAfterMs: this.opt.fillerAfterMs, minClauseChars: this.opt.minClauseChars,
      signal: this.ac.signal, logger: this.lg,
      onIdentity: () => this.saveState(),
    });
  }

  get callSid(): string { return this.o.start.callSid; }
  get tenantId(): string { return this.o.start.tenantId; }
  get direction(): 'inbound' | 'outbound' { return this.o.start.direction; }
  get isEnded(): boolean { return this.ended; }
  /** STT socket writes (quiet frames are batched, so fewer than frames in). */
  get sttWrites(): number { return this.callerAudio.sttWrites; }
  private get framesIn(): number { return this.callerAudio.framesIn; }

  /** Plays the cached greeting at once, then opens STT and TTS. Synchronous up to the first frame. */
  start(): void {
    metrics.activeCalls.inc();
    this.o.pacer.attach(this.out);
    const startAt = performance.now();
    const viaTts = this.o.greetingVia === 'tts';
    const audio = viaTts ? null : this.o.lines.greeting(this.speech.linesSlot, this.speech.configKey);
    let firstFrameAt: number | undefined;
    if (audio) firstFrameAt = this.out.enqueueClip('greeting', this.o.greeting, audio, startAt).firstSentAt;
    // Queued for the TTS socket, which opens just below; the caller hears it as soon as the first audio arrives.
    else if (viaTts) this.sendToTts(this.out.segment('line', this.o.greeting));
    this.emit('greeting', { startAt, firstFrameAt });
    this.log.add('utterance', { role: 'agent', text: this.o.greeting, greeting: true });
    // Socket set-up is the costly part of a start; deferring it lets every call arriving in the same burst
    // get its greeting out first. Caller audio meanwhile waits in the STT buffer.
    setImmediate(() => {
      if (this.ended) return;
      this.openStt();
      this.openTts();
    });
    const maxSec = this.o.tenant.maxCallSec ?? this.opt.maxCallSec;
    this.maxTimer = setTimeout(() => this.wrapUp(), maxSec * 1000);
    this.maxTimer.unref();
    this.saveState();
    if (!audio && !viaTts) this.onAgentIdle();
  }

  // ------------------------------------------------------------------ telephony → voice (hot path first)

  onAudio(mulaw: Buffer): void {
    this.callerAudio.push(mulaw);
  }

  onMark(name: string): void {
    this.out.onMark(name);
  }

  onDtmf(digit: string): void {
    if (this.ended || this.closing || this.failing) return;
    if (!/^[0-9*#A-D]$/.test(digit)) return;
    this.resetSilence();
    this.log.add('dtmf', { digit });
    if (this.humanKeyTimer) { clearTimeout(this.humanKeyTimer); this.humanKeyTimer = null; }
    if (digit === '#') { this.endUserTurn(); return; }
    if (digit === '*') { this.dtmf = ''; return; }
    this.withdrawPending();
    // The greeting's "para español, oprima dos": only before the caller's first turn, so digits of a ZIP
    // code or a phone number later in the call are never taken for a language choice.
    const chosen = this.turnCount === 0 && this.dtmf === '' ? this.o.languages?.forDigit(digit) : undefined;
    if (chosen && this.switchToLanguage(chosen, 'dtmf')) return;
    this.dtmf += digit;
    if (this.dtmf.length > 32) this.dtmf = this.dtmf.slice(-32);
    const humanKey = this.o.tenant.humanDtmfKey;
    if (humanKey && this.dtmf === humanKey) {
      // Alone it means "a person, please"; followed by more digits it was the start of a number.
      this.humanKeyTimer = setTimeout(() => {
        this.humanKeyTimer = null;
        if (this.dtmf === humanKey) { this.dtmf = ''; void this.transferToHuman('dtmf'); }
      }, this.opt.humanKeyWaitMs);
      return;
    }
    if (this.dtmfTimer) clearTimeout(this.dtmfTimer);
    this.dtmfTimer = setTimeout(() => {
      this.dtmfTimer = null;
      // Speech in progress takes the digits along when it ends; otherwise the digits are the turn.
      if (this.userParts.length === 0 && !this.barge) this.endUserTurn();
    }, this.opt.dtmfIdleMs);
  }

  onEnd(reason: 'stop' | 'socket_closed' | 'error' | 'drain'): void {
    void this.end(reason);
  }

  // ------------------------------------------------------------------ providers

  private openStt(): void {
    const gen = ++this.sttGen;
    this.callerAudio.detach(true);
    const { guards, stt, breakers } = this.o.providers;
    guards.openStt({
      stt, breaker: breakers.stt, signal: this.ac.signal, language: this.speech.sttLanguage,
      onEvent: (e) => { if (gen === this.sttGen) this.onTranscript(e); },
    }).then((s) => {
      if (this.ended || gen !== this.sttGen) { void s.close(); return; }
      this.stt = s;
      this.callerAudio.attach(s);
    }, (e: unknown) => {
      if (!this.ended) void this.fail('stt', e);
    });
  }

  private openTts(): void {
    const { guards, tts, breakers } = this.o.providers;
    // A replaced (stalled) socket may still deliver a late chunk or error: only the current one is heard.
    const gen = ++this.ttsGen;
    guards.openTts({
      tts, breaker: breakers.tts, signal: this.ac.signal, voice: this.speech.voice,
      onAudio: (b) => { if (gen === this.ttsGen) this.onTtsAudio(b); },
      onFlushed: () => { if (gen === this.ttsGen) this.onTtsFlushed(); },
      onError: (e) => { if (!this.ended && gen === this.ttsGen) void this.fail('tts', e); },
    }).then((s) => {
      if (this.ended || gen !== this.ttsGen) { void s.close(); return; }
      this.tts = s;
      const waiting = this.ttsWaiting;
      this.ttsWaiting = [];
      for (const seg of waiting) if (!seg.dropped) this.sendToTts(seg);
    }, (e: unknown) => {
      if (!this.ended) void this.fail('tts', e);
    });
  }

  private sendToTts(seg: Segment): void {
    const tts = this.tts;
    if (!tts) { this.ttsWaiting.push(seg); return; }
    this.ttsPending.push(seg);
    tts.speak(seg.text.trim());
    tts.flush();
    this.armTtsStall();
  }

  private armTtsStall(): void {
    if (this.ttsStall) { this.ttsStall.refresh(); return; }
    this.ttsStall = setTimeout(() => {
      this.ttsStall = null;
      if (this.ttsPending.length > 0 && !this.ended) this.onTtsStalled();
    }, this.opt.ttsStallMs);
    this.ttsStall.unref();
  }

  private clearTtsStall(): void {
    if (this.ttsStall) { clearTimeout(this.ttsStall); this.ttsStall = null; }
  }

  private onTtsAudio(buf: Buffer): void {
    const seg = this.ttsPending[0];
    if (!seg) return; // audio of a cleared clause
    const now = performance.now();
    if (this.turn && this.turn.timing.ttsFirstByteAt === undefined && this.turn.segments.includes(seg)) this.turn.timing.ttsFirstByteAt = now;
    this.armTtsStall();
    this.out.append(seg, buf, now);
  }

  private onTtsFlushed(): void {
    const seg = this.ttsPending.shift();
    if (seg) this.out.complete(seg);
    if (this.ttsPending.length === 0) this.clearTtsStall();
  }

  // ------------------------------------------------------------------ transcripts and turn-taking

  private onTranscript(e: TranscriptEvent): void {
    if (this.ended) return;
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
        this.o.languages?.spoken?.observe(e.text, e.language);
        this.onFinal(e.text.trim(), e.speechFinal);
        return;
      case 'utterance_end':
        if (this.barge) this.resolveBarge(this.barge.text.trim() ? 'backchannel' : 'noise');
        else if (this.userParts.length) this.endUserTurn();
        return;
      case 'closed':
        this.onSttClosed(e.error);
        return;
    }
  }

  private onSttClosed(error: Error | undefined): void {
    if (this.ended || this.closing) return;
    this.stt = null;
    this.callerAudio.detach(false);
    if (!error) return;
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds.stt, category: errorCategory(error) });
    if (this.sttReopened) { void this.fail('stt', error); return; }
    // Reopen once, keeping the caller's audio meanwhile; a second drop is a provider failure.
    this.sttReopened = true;
    this.lg.warn({ err: error.message }, 'stt dropped mid-call; reopening once');
    this.openStt();
  }

  private agentHasFloor(): boolean {
    return this.out.busy || this.conversation.busy;
  }

  private onSpeechStarted(): void {
    this.resetSilence();
    // Nothing was said yet for a speculative turn: the caller going on just withdraws it, no barge-in.
    if (this.withdrawPending()) return;
    if (this.closing || this.failing || this.barge || !this.agentHasFloor()) return;
    const now = performance.now();
    // Stop sending at once; Twilio plays out at most the lead. Resuming later continues at the next byte.
    this.out.pause();
    this.barge = { startedAt: now, text: '', timer: setTimeout(() => this.resolveBarge('noise'), this.opt.bargeInWindowMs) };
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

  /** The caller went on before a speculative turn was committed: withdraw it. True if there was one. */
  private withdrawPending(): boolean {
    const t = this.turn;
    if (!t || !t.gate.pending) return false;
    t.gate.withdraw();
    this.conversation.withdraw(t.sink);
    this.turn = null;
    this.lg.debug('speculative turn withdrawn: the caller went on');
    return true;
  }

  /** Backchannel or noise: the agent goes on exactly where it paused. */
  private resolveBarge(kind: 'backchannel' | 'noise'): void {
    const b = this.barge;
    if (!b) return;
    clearTimeout(b.timer);
    this.barge = null;
    this.out.resume();
    metrics.bargeIns.inc({ kind });
    this.log.add('barge_in', { kind });
    this.emit('barge_in', { kind, speechStartedAt: b.startedAt, decidedAt: performance.now(), paused: true });
    if (!this.agentHasFloor()) this.onAgentIdle();
  }

  /** Real speech over the agent: Twilio clear, TTS Clear, LLM aborted, context cut to what was heard. */
  private confirmBargeIn(): void {
    const b = this.barge;
    if (!b) return;
    clearTimeout(b.timer);
    this.barge = null;
    const llmAborted = this.conversation.busy;
    const heard = this.stopAgent();
    metrics.bargeIns.inc({ kind: 'speech' });
    this.log.add('barge_in', { kind: 'speech', heard, llmAborted });
    this.emit('barge_in', { kind: 'speech', speechStartedAt: b.startedAt, decidedAt: performance.now(), paused: true, heard, llmAborted });
  }

  /** Silences the agent now and truncates its context to what the caller heard; returns that text. */
  private stopAgent(): string {
    const now = performance.now();
    // A turn not yet committed has said nothing; its held output must never play after this.
    this.turn?.gate.withdraw();
    const heard = this.heardModelText(now);
    this.out.clear(now);
    this.ttsPending = [];
    this.ttsWaiting = [];
    this.clearTtsStall();
    this.tts?.clear();
    this.conversation.interrupt(heard);
    return heard;
  }

  /** The model text of the current turn the caller has heard: whole clauses, then the played part of one. */
  private heardModelText(now: number): string {
    if (!this.turn) return '';
    let s = '';
    for (const seg of this.turn.segments) {
      if (seg.kind !== 'model') continue;
      const f = this.out.heardFraction(seg, now);
      if (f >= 1 && seg.complete) { s += seg.text; continue; }
      s += wordPrefix(seg.text, f);
      break;
    }
    return s;
  }

  /**
   * The caller's turn is over: `speculative` on a stable final (the request goes out now, the reply is held
   * until the turn commits), not on UtteranceEnd, `#` or the keypad timeout (committed at once). The same
   * words never make a second request: a later end of the same turn just commits the speculative one.
   */
  private endUserTurn(speculative = false): void {
    if (this.dtmfTimer) { clearTimeout(this.dtmfTimer); this.dtmfTimer = null; }
    const speech = this.userParts.join(' ').trim();
    const digits = this.dtmf;
    const text = digits ? `${speech} (keypad: ${digits})`.trim() : speech;
    if (!text || this.ended || this.closing || this.failing) return;
    const pending = this.turn?.gate.pending ? this.turn : null;
    if (pending) {
      if (pending.text === text) { if (!speculative) pending.gate.commit(); return; }
      this.withdrawPending();
    }
    this.startTurn(text, speculative);
  }

  private startTurn(text: string, speculative: boolean): void {
    this.clearSilence();
    // The caller's words were in another of the tenant's languages: switch first, so they are answered in it.
    const spoken = this.o.languages?.spoken?.take();
    if (spoken) this.switchToLanguage(spoken, 'speech');
    // A turn end with the agent still talking (no SpeechStarted seen): the caller wins.
    if (this.agentHasFloor()) this.stopAgent();
    const timing: TurnTiming = { turn: 0, sttFinalAt: performance.now() };
    const sink: TurnSink = {
      firstToken: () => { timing.llmFirstTokenAt ??= performance.now(); },
      clause: (c) => turn.gate.output(() => {
        if (this.turn !== turn || this.ended) return;
        timing.firstClauseAt ??= performance.now();
        const seg = this.out.segment('model', c);
        turn.segments.push(seg);
        this.sendToTts(seg);
      }),
      line: (name, t) => turn.gate.output(() => { if (this.turn === turn) turn.segments.push(...this.playLine(name, t)); }),
      toolCall: (e) => this.log.add('tool_call', { id: e.id, name: e.name, arguments: e.arguments.slice(0, 2000) }),
      toolResult: (e) => {
        if (e.ok) this.actions.add(e.name);
        this.log.add('tool_result', { id: e.id, name: e.name, ok: e.ok, code: e.code ?? null, ms: Math.round(e.ms) });
      },
      committed: () => turn.gate.settled(),
    };
    const gate = new SpeculativeTurn({ holdMs: speculative ? this.opt.commitHoldMs : 0, onCommit: () => this.onTurnCommitted(turn) });
    const turn: AgentTurn = { timing, segments: [], emitted: false, text, gate, sink };
    this.turn = turn;
    if (!speculative) gate.commit();
    this.conversation.run(text, sink).then((r) => {
      if (r.status === 'withdrawn' || gate.withdrawn) return;
      gate.commit();
      this.onTurnDone(turn, r);
    }, (e: unknown) => {
      if (this.ended || gate.withdrawn) return;
      gate.commit();
      this.onTurnFailed(turn, e);
    });
  }

  /** The turn is the caller's for good: its words leave the buffer, it is counted, logged and announced. */
  private onTurnCommitted(turn: AgentTurn): void {
    if (this.ended) return;
    this.userParts = [];
    this.dtmf = '';
    turn.timing.turn = ++this.turnCount;
    this.log.add('utterance', { role: 'caller', text: turn.text });
    this.emit('utterance', { role: 'caller', text: turn.text });
  }

  private onTurnDone(turn: AgentTurn, r: TurnResult): void {
    if (this.ended) return;
    if (r.status !== 'interrupted') this.llmTimeouts = 0;
    if (r.text && r.status !== 'interrupted') {
      this.log.add('utterance', { role: 'agent', text: r.text });
      this.emit('utterance', { role: 'agent', text: r.text });
    }
    // What the model meant to say when the caller cut in; the barge_in event before it holds what was heard.
    if (r.status === 'interrupted' && r.text) this.log.add('utterance', { role: 'agent', text: r.text, interrupted: true });
    if (r.status === 'fallback') this.log.add('line', { name: 'toolFallback', reason: r.fallback ?? null });
    if (r.status === 'control' && r.control === 'end') void this.finishAfterPlayback('end_call', r.text ? null : 'goodbye');
    if (r.status === 'control' && r.control === 'transfer') void this.transferToHuman('tool');
    if (!turn.emitted && turn.segments.length === 0) { turn.emitted = true; this.emit('turn', turn.timing); }
    this.saveState();
    if (!this.agentHasFloor()) this.onAgentIdle();
  }

  private onFirstFrame(seg: Segment, now: number): void {
    const turn = this.turn;
    if (!turn || turn.emitted || seg.kind !== 'model' || !turn.segments.includes(seg)) return;
    const t = turn.timing;
    t.firstAudioOutAt = now;
    turn.emitted = true;
    const s = (v: number | undefined) => v === undefined ? undefined : (v - t.sttFinalAt) / 1000;
    const stages: Array<[string, number | undefined]> = [
      ['llm_first_token', s(t.llmFirstTokenAt)], ['first_clause', s(t.firstClauseAt)], ['tts_first_byte', s(t.ttsFirstByteAt)], ['first_audio_out', s(now)],
    ];
    for (const [stage, v] of stages) if (v !== undefined) metrics.turnStage.observe({ stage }, v);
    const ms = (v: number | undefined) => v === undefined ? null : Math.round(v - t.sttFinalAt);
    this.log.add('turn_timing', {
      turn: t.turn, llmFirstTokenMs: ms(t.llmFirstTokenAt), firstClauseMs: ms(t.firstClauseAt), ttsFirstByteMs: ms(t.ttsFirstByteAt), firstAudioMs: ms(now),
    });
    this.emit('turn', t);
  }

  // ------------------------------------------------------------------ language

  /**
   * The call goes on in another language, chosen by keypad or heard in the caller's words: the agent stops
   * talking, the TTS is reopened with the language's voice and the STT for its language (a Deepgram socket's
   * voice and language are fixed at open; a multilingual STT stays as it is), and prompt and lines are swapped.
   * By keypad the greeting plays again in the new language; by speech the caller asked something, and that
   * turn, which goes to the model next, is the answer they hear (docs/languages.md). False when `language` is
   * the current one or not served.
   */
  private switchToLanguage(language: string, source: 'dtmf' | 'speech'): boolean {
    const next = this.o.languages?.resolve(language);
    if (!next || next.language === this.speech.language) return false;
    this.log.add('language', { from: this.speech.language, to: next.language, source });
    this.lg.info({ from: this.speech.language, to: next.language, source }, 'the call switches language');
    if (this.agentHasFloor()) this.stopAgent();
    const reopenStt = next.sttLanguage !== this.speech.sttLanguage;
    this.speech = next;
    this.o.languages?.spoken?.switchedTo(next.language);
    const greeting = source === 'dtmf' ? next.greeting : undefined;
    this.conversation.switchLanguage({ systemPrompt: next.systemPrompt, lines: next.script, language: next.language, greeting });
    if (reopenStt) {
      const stt = this.stt;
      this.stt = null;
      if (stt) void stt.close();
      this.openStt();
    }
    const tts = this.tts;
    this.tts = null;
    if (tts) void tts.close();
    this.openTts();
    if (greeting) {
      const audio = this.o.lines.greeting(next.linesSlot, next.configKey);
      if (audio) this.out.enqueueClip('greeting', greeting, audio);
      else this.sendToTts(this.out.segment('line', greeting));
      this.log.add('utterance', { role: 'agent', text: greeting, greeting: true });
      this.emit('utterance', { role: 'agent', text: greeting });
    }
    this.emit('language', { language: next.language });
    this.saveState();
    return true;
  }

  // ------------------------------------------------------------------ scripted lines and endings

  /** Plays a cached line, or speaks it through TTS when it isn't cached. Returns its segment(s). */
  private playLine(name: LineName, text: string = this.speech.script[name]): Segment[] {
    this.log.add('line', { name });
    const audio = this.o.lines.line(this.speech.linesSlot, this.speech.configKey, name);
    if (audio) return [this.out.enqueueClip('line', text, audio)];
    if (this.failing) return [];
    const seg = this.out.segment('line', text);
    this.sendToTts(seg);
    return [seg];
  }

  /** Resolves once everything queued has played (or its length plus the grace passed). */
  private waitForPlayback(): Promise<void> {
    return this.out.whenIdle(this.opt.closingGraceMs);
  }

  private async finishAfterPlayback(reason: EndReason, line: LineName | null): Promise<void> {
    if (this.closing || this.ended) return;
    this.closing = true;
    this.clearSilence();
    if (line) this.playLine(line);
    await this.waitForPlayback();
    await this.hangUp(reason);
  }

  private async transferToHuman(source: 'tool' | 'dtmf'): Promise<void> {
    if (this.closing || this.ended || this.failing) return;
    this.closing = true;
    this.clearSilence();
    if (source === 'dtmf' && this.agentHasFloor()) this.stopAgent();
    if (source === 'dtmf' || !this.turn || this.turn.segments.length === 0) this.playLine('transfer');
    this.log.add('transfer', { source });
    await this.waitForPlayback();
    if (this.ended) return;
    try {
      if (!this.o.control) throw new Error('no call control available');
      await this.o.control.transfer({ tenantId: this.tenantId, callSid: this.callSid });
      this.outcome = 'transferred';
      await this.end('transferred');
      this.o.link.close();
    } catch (e) {
      this.lg.warn({ err: (e as Error).message }, 'transfer failed; callback task stored instead');
      this.outcome = 'callback';
      await this.storeCallbackTask('transfer_failed');
      this.closing = false;
      this.playLine('transferFailed');
      this.conversation.noteAgentLine(this.speech.script.transferFailed);
    }
  }

  /**
   * Shutdown reached its grace limit with this call still live: the caller hears the wrap-up line (already
   * synthesised, so it plays even if TTS is slow), then the call is hung up over REST with reason `drain`.
   * A call already saying goodbye or transferring just finishes that. Resolves when cleanup is done.
   */
  async endForShutdown(): Promise<void> {
    if (this.ended) return this.done;
    if (!this.closing) {
      if (this.agentHasFloor()) this.stopAgent();
      await this.finishAfterPlayback('drain', 'wrapUp');
    }
    return this.done;
  }

  private wrapUp(): void {
    if (this.ended || this.closing) return;
    if (this.agentHasFloor()) this.stopAgent();
    void this.finishAfterPlayback('max_duration', 'wrapUp');
  }

  private async hangUp(reason: EndReason): Promise<void> {
    if (this.ended) return;
    const control = this.o.control;
    if (control) {
      control.hangUp({ tenantId: this.tenantId, callSid: this.callSid })
        .catch((e: unknown) => this.lg.warn({ err: (e as Error).message }, 'hang-up request failed; closing the stream'));
    }
    this.o.link.close();
    await this.end(reason);
  }

  // ------------------------------------------------------------------ silence

  private onAgentIdle(): void {
    if (this.ended || this.closing || this.failing || this.conversation.busy || this.barge || this.userParts.length) return;
    const sec = this.o.tenant.silencePromptSec ?? this.opt.silencePromptSec;
    if (!sec) return;
    this.clearSilence();
    this.silenceTimer = setTimeout(() => this.onSilence(), sec * 1000);
    this.silenceTimer.unref();
  }

  private resetSilence(): void {
    this.silencePrompts = 0;
    this.clearSilence();
  }

  private clearSilence(): void {
    if (this.silenceTimer) { clearTimeout(this.silenceTimer); this.silenceTimer = null; }
  }

  private onSilence(): void {
    this.silenceTimer = null;
    if (this.ended || this.closing || this.failing || this.agentHasFloor()) return;
    if (this.silencePrompts++ === 0) {
      this.playLine('silencePrompt');
      this.conversation.noteAgentLine(this.speech.script.silencePrompt);
      return;
    }
    void this.finishAfterPlayback('silence', 'silenceGoodbye');
  }

  // ------------------------------------------------------------------ faults

  /**
   * A provider failed or stalled (§6.1 #25): the caller hears the pre-synthesised line, a callback task is
   * stored, and the call ends cleanly. Logged and recorded as VOI_ERR_PROVIDER_FAILED.
   */
  private async fail(kind: VoiceSlot, err: unknown): Promise<void> {
    if (this.failing || this.ended) return;
    this.failing = true;
    const category = errorCategory(err);
    this.lg.error({ code: 'VOI_ERR_PROVIDER_FAILED', provider: kind, category, err: (err as Error)?.message }, 'voice provider failed; playing the fallback line');
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds[kind], category });
    this.log.add('error', { code: 'VOI_ERR_PROVIDER_FAILED', provider: kind, category });
    this.emit('failed', { kind, category });
    this.outcome = 'callback';
    try {
      if (this.barge) { clearTimeout(this.barge.timer); this.barge = null; }
      this.clearSilence();
      if (this.agentHasFloor()) this.stopAgent();
      const task = this.storeCallbackTask(`provider_failed:${kind}`);
      const audio = this.o.lines.line(this.speech.linesSlot, this.speech.configKey, 'providerFallback');
      if (audio) this.out.enqueueClip('line', this.speech.script.providerFallback, audio);
      this.log.add('line', { name: 'providerFallback' });
      await task;
      await this.waitForPlayback();
    } catch (e) {
      this.lg.error({ err: (e as Error).message }, 'fallback handling failed');
    }
    await this.hangUp('provider_failed');
  }

  /**
   * The model did not answer a caller turn. A timeout (no first token in budget, or a stream that stalled) is
   * usually one slow generation: the caller keeps what was already said, hears the cached apology, and the
   * call goes on with the next turn. A second timeout in a row, or any other failure (a 5xx that survived the
   * retry, bad credentials, an open breaker), is an outage and goes to {@link fail}.
   */
  private onTurnFailed(turn: AgentTurn, e: unknown): void {
    if (this.failing || this.closing || !isPluginError(e) || e.category !== 'timeout' || ++this.llmTimeouts > 1) {
      void this.fail('llm', e);
      return;
    }
    this.lg.warn({ code: 'VOI_ERR_PROVIDER_FAILED', provider: 'llm', category: 'timeout', err: e.message }, 'llm timed out; fallback line, the call goes on');
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds.llm, category: 'timeout' });
    this.log.add('error', { code: 'VOI_ERR_PROVIDER_FAILED', provider: 'llm', category: 'timeout', recovered: true });
    // The transcript keeps what the caller was given to hear, as the conversation's context does.
    const said = turn.segments.filter((seg) => seg.kind === 'model').map((seg) => seg.text).join('');
    if (said) {
      this.log.add('utterance', { role: 'agent', text: said, partial: true });
      this.emit('utterance', { role: 'agent', text: said });
    }
    const line = this.playLine('toolFallback');
    if (this.turn === turn) turn.segments.push(...line);
    this.conversation.noteAgentLine(this.speech.script.toolFallback);
    this.saveState();
    if (!this.agentHasFloor()) this.onAgentIdle();
  }

  /**
   * Flushed text got no TTS audio for `ttsStallMs`. The first time, the stalled socket is closed and a fresh
   * one opened: the cut-off answer is handled like a barge-in (context cut to what was heard), the cached
   * apology plays, and the call goes on. A second stall is a TTS outage and goes to {@link fail}.
   */
  private onTtsStalled(): void {
    const err = new PluginError('timeout', `no TTS audio for ${this.opt.ttsStallMs} ms`);
    if (this.failing || this.closing || ++this.ttsStalls > 1) {
      void this.fail('tts', err);
      return;
    }
    this.lg.warn({ code: 'VOI_ERR_PROVIDER_FAILED', provider: 'tts', category: 'timeout' }, 'tts stalled; reopening the socket, the call goes on');
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds.tts, category: 'timeout' });
    const stalled = this.tts;
    // Detached first: stopAgent() then sends no Clear to it, and anything spoken next waits for the new socket.
    this.tts = null;
    const heard = this.stopAgent();
    this.log.add('error', { code: 'VOI_ERR_PROVIDER_FAILED', provider: 'tts', category: 'timeout', recovered: true, heard });
    if (stalled) void stalled.close();
    this.playLine('toolFallback');
    this.conversation.noteAgentLine(this.speech.script.toolFallback);
    this.openTts();
  }

  private async storeCallbackTask(reason: string): Promise<void> {
    try {
      await this.o.withTenant(this.tenantId, (trx) => trx('callback_tasks').insert({ call_id: this.o.start.callId, phone: this.o.start.from, reason }));
    } catch (e) {
      this.lg.error({ err: (e as Error).message, reason }, 'callback task could not be stored');
    }
  }

  // ------------------------------------------------------------------ state and cleanup

  private stateDoc(status: string): Record<string, unknown> {
    const id = this.conversation.identity;
    return {
      tenantId: this.tenantId, callSid: this.callSid, callId: this.o.start.callId, streamSid: this.o.start.streamSid,
      direction: this.o.start.direction, status, startedAt: this.startedAt, turns: this.turnCount,
      identity: { verifiedCustomerId: id.verifiedCustomerId, candidates: id.candidateCustomerIds.length, verificationAttempts: id.verificationAttempts },
      updatedAt: Date.now(),
    };
  }

  /** Soft state for other processes; the call itself runs from memory, so a store outage only gets logged. */
  private saveState(status = 'live'): void {
    const doc = this.stateDoc(status);
    const ttl = this.opt.stateTtlSec;
    this.stateWrite = this.stateWrite.then(async () => {
      try {
        const updated = await this.o.state.updateDoc(this.stateKey, () => doc, ttl);
        if (!updated) await this.o.state.createDoc(this.stateKey, doc, ttl);
        if (this.stateDown) { this.stateDown = false; this.lg.info('state store reachable again'); }
      } catch (e) {
        if (!this.stateDown) {
          this.stateDown = true;
          this.lg.warn({ err: (e as Error).message }, 'state store unavailable; the call continues from in-process state');
        }
      }
    });
  }

  private deriveOutcome(): string {
    if (this.outcome) return this.outcome;
    // A reminder call's outcome is the one its tools wrote to the attempt (confirmed, rescheduled, opted_out, …).
    const reminder = this.conversation.identity.reminder?.outcome;
    if (reminder) return reminder;
    if (this.actions.has('book_appointment')) return 'booked';
    if (this.actions.has('reschedule_appointment')) return 'rescheduled';
    if (this.actions.has('cancel_appointment')) return 'cancelled';
    return 'info';
  }

  /** Idempotent cleanup on every exit path: provider sessions, timers, pacer, events, call row, CRM job. */
  async end(reason: EndReason): Promise<void> {
    if (this.ended) return this.done;
    this.ended = true;
    this.turn?.gate.withdraw();
    this.ac.abort();
    for (const t of [this.barge?.timer, this.silenceTimer, this.maxTimer, this.dtmfTimer, this.humanKeyTimer, this.ttsStall]) if (t) clearTimeout(t);
    this.barge = null;
    this.o.pacer.detach(this.out);
    this.callerAudio.close();
    this.out.close();
    metrics.activeCalls.dec();
    metrics.mediaFrames.inc({ direction: 'in' }, this.framesIn);
    metrics.mediaFrames.inc({ direction: 'out' }, this.out.stats.framesSent);
    try {
      const sessions: Promise<void>[] = [];
      if (this.stt) sessions.push(this.stt.close());
      if (this.tts) sessions.push(this.tts.close());
      this.stt = null;
      this.tts = null;
      await Promise.allSettled(sessions);
      const outcome = this.deriveOutcome();
      this.log.add('call_end', { reason, outcome, turns: this.turnCount, framesIn: this.framesIn, framesOut: this.out.stats.framesSent });
      await this.log.flush();
      const id = this.conversation.identity;
      const customerId = id.verifiedCustomerId ?? id.createdCustomerId ?? null;
      const summary = `${this.o.start.direction === 'outbound' ? 'Outbound' : 'Inbound'} call with the voice agent, ${this.turnCount} caller turn(s); outcome: ${outcome}${this.actions.size ? `; tools used: ${[...this.actions].sort().join(', ')}` : ''}.`;
      await this.o.withTenant(this.tenantId, (trx) => trx('calls').where({ id: this.o.start.callId }).update({
        ended_at: trx.raw('coalesce(ended_at, now())'), customer_id: customerId, outcome, summary,
      })).catch((e: unknown) => this.lg.error({ err: (e as Error).message }, 'call row update failed'));
      this.saveState('ended');
      await this.stateWrite;
      if (this.o.jobs) {
        const job: CrmLogJob = { tenantId: this.tenantId, callId: this.o.start.callId };
        await this.o.jobs.enqueue('crm-log', job, { jobId: crmLogJobId(job) })
          .catch((e: unknown) => this.lg.error({ err: (e as Error).message }, 'crm-log job could not be enqueued'));
      }
      this.lg.info({ reason, outcome, turns: this.turnCount, framesIn: this.framesIn, sttWrites: this.sttWrites, framesOut: this.out.stats.framesSent, underruns: this.out.stats.underruns }, 'call ended');
    } catch (e) {
      this.lg.error({ err: (e as Error).message }, 'call cleanup step failed');
    } finally {
      this.emit('ended', { reason });
      this.resolveDone();
    }
  }
}
