import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Breaker } from '../resilience/index.js';
import { isServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { isPluginError, PluginError, type SttProvider, type SttSession, type TranscriptEvent, type TtsProvider } from '../sdk/index.js';
import type { StateStore } from '../state/store.js';
import type { CallHandler, CallStart, MediaLink } from '../telephony/media-link.js';
import type { CallIdentity } from '../tools/identity.js';
import { AgentSpeech } from './agent-speech.js';
import type { BargeInEvent, CallSessionEvents, CallStatus, EndReason, TurnTiming } from './call-events.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import { CallRecord, type JobsPort } from './call-record.js';
import { CallerAudio } from './caller-audio.js';
import { Conversation, type LlmStream, type ToolRunner, type TurnResult, type TurnSink } from './conversation.js';
import type { CallLanguages } from './language-switch.js';
import type { LineCache } from './line-cache.js';
import type { LineName, ScriptedLines } from './lines.js';
import type { OutboundAudio, Pacer, Segment } from './pacer.js';
import type { ProviderGuards, VoiceSlot } from './providers.js';
import { SpeculativeTurn } from './speculative-turn.js';
import { TurnTaking, type AgentTurn } from './turn-taking.js';
import type { VoiceOptions } from './voice-options.js';

export { DEFAULT_VOICE_OPTIONS, type VoiceOptions } from './voice-options.js';
export type { BargeInEvent, CallSessionEvents, EndReason, TurnTiming } from './call-events.js';
export type { JobsPort } from './call-record.js';

/** Call control (core/telephony's Telephony satisfies it). */
export interface CallControl {
  hangUp(o: { tenantId: string; callSid: string }): Promise<void>;
  transfer(o: { tenantId: string; callSid: string }): Promise<void>;
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


function errorCategory(e: unknown): string {
  if (isPluginError(e)) return e.category;
  if (isServiceLaneError(e)) return e.code;
  return 'unknown';
}

/**
 * One call, start to cleanup: the coordinator of four collaborators, each with one concern.
 *
 * - caller audio in (caller-audio.ts): frames to the STT, kept across a reconnect;
 * - turn-taking (turn-taking.ts): finals and digits into turns, end of turn, speculative turns, barge-in
 *   decisions, the silence timer;
 * - agent speech out (agent-speech.ts): TTS socket, segments, pacing, cached lines, what the caller heard;
 * - the call record (call-record.ts): events, soft state, outcome, callback task, end-of-call writes.
 *
 * The session owns the provider sessions' lifecycles (STT open/reopen, TTS stall recovery), runs each turn
 * through the Conversation, switches language, handles endings (goodbye, transfer, wrap-up, shutdown) and
 * provider faults, and closes every provider session on every exit path.
 */
export class CallSession extends EventEmitter<CallSessionEvents> implements CallHandler {
  readonly conversation: Conversation;
  /** Resolves when cleanup finished (drain waits on it). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly ac = new AbortController();
  private readonly lg: Logger;
  private readonly opt: VoiceOptions;
  /** Shared read-only with the collaborators; only the session writes it. */
  private readonly status: CallStatus = { ended: false, closing: false, failing: false };
  /** Voice, STT language and lines of the call's current language (a keypad choice replaces it). */
  private speech: CallSpeech;
  private stt: SttSession | null = null;
  private sttGen = 0;
  private sttReopened = false;
  private maxTimer: NodeJS.Timeout | null = null;
  /** Consecutive caller turns that ended in an LLM timeout (see onTurnFailed). */
  private llmTimeouts = 0;
  /** TTS stalls so far; the first one is recovered from (see onTtsStalled). */
  private ttsStalls = 0;
  /** Caller audio in: the per-frame hot path to the STT. */
  private readonly callerAudio: CallerAudio;
  private readonly agent: AgentSpeech;
  private readonly turns: TurnTaking;
  private readonly record: CallRecord;

  constructor(private readonly o: CallSessionInit) {
    super();
    this.opt = o.options;
    this.lg = o.logger.child({ tenantId: o.start.tenantId, callSid: o.start.callSid });
    this.done = new Promise((r) => { this.resolveDone = r; });
    this.speech = {
      language: o.language ?? 'en', sttLanguage: o.tenant.language, voice: o.tenant.voice,
      linesSlot: o.tenant.linesSlot, configKey: o.tenant.configKey, script: o.script,
    };
    this.record = new CallRecord({
      start: o.start, withTenant: o.withTenant, state: o.state, jobs: o.jobs, logger: this.lg, stateTtlSec: this.opt.stateTtlSec,
      snapshot: () => ({ turns: this.turns.count, identity: this.conversation.identity }),
    });
    this.callerAudio = new CallerAudio({ pacer: o.pacer, bufferMs: this.opt.sttBufferMs });
    this.agent = new AgentSpeech({
      link: o.link, pacer: o.pacer, tts: o.providers.tts, breaker: o.providers.breakers.tts, guards: o.providers.guards,
      signal: this.ac.signal, leadMs: this.opt.leadMs, frameMs: this.opt.frameMs, stallMs: this.opt.ttsStallMs,
      hooks: {
        audio: (seg, now) => {
          const turn = this.turns.current;
          if (turn && turn.timing.ttsFirstByteAt === undefined && turn.segments.includes(seg)) turn.timing.ttsFirstByteAt = now;
        },
        firstFrame: (seg, now) => this.onFirstFrame(seg, now),
        idle: () => this.turns.armSilence(),
        failed: (e) => { void this.fail('tts', e); },
        stalled: () => this.onTtsStalled(),
      },
    });
    this.turns = new TurnTaking({
      status: this.status, bargeInWindowMs: this.opt.bargeInWindowMs, dtmfIdleMs: this.opt.dtmfIdleMs, humanKeyWaitMs: this.opt.humanKeyWaitMs,
      silenceSec: o.tenant.silencePromptSec ?? this.opt.silencePromptSec, humanDtmfKey: o.tenant.humanDtmfKey,
      hooks: {
        agentHasFloor: () => this.agentHasFloor(),
        generating: () => this.conversation.busy,
        pauseAgent: () => this.agent.pause(),
        resumeAgent: () => this.agent.resume(),
        interruptAgent: () => {
          const llmAborted = this.conversation.busy;
          return { heard: this.stopAgent(), llmAborted };
        },
        bargeIn: (e) => this.onBargeIn(e),
        startTurn: (text, speculative) => this.startTurn(text, speculative),
        withdrawn: (turn) => {
          this.conversation.withdraw(turn.sink);
          this.lg.debug('speculative turn withdrawn: the caller went on');
        },
        silence: (first) => this.onSilence(first),
        dtmf: (digit) => this.record.add('dtmf', { digit }),
        languageDigit: (digit) => {
          const chosen = this.o.languages?.forDigit(digit);
          return chosen ? this.switchToLanguage(chosen, 'dtmf') : false;
        },
        humanKey: () => { void this.transferToHuman('dtmf'); },
      },
    });
    this.conversation = new Conversation({
      llm: o.providers.llm, tools: o.tools, identity: o.identity, systemPrompt: o.systemPrompt, greeting: o.greeting,
      model: o.model, lines: o.script, maxToolSteps: this.opt.maxToolSteps, fillerAfterMs: this.opt.fillerAfterMs, minClauseChars: this.opt.minClauseChars,
      signal: this.ac.signal, logger: this.lg,
      onIdentity: () => this.record.saveState(),
    });
  }

  get callSid(): string { return this.o.start.callSid; }
  get tenantId(): string { return this.o.start.tenantId; }
  get direction(): 'inbound' | 'outbound' { return this.o.start.direction; }
  get isEnded(): boolean { return this.status.ended; }
  /** The call's outbound audio (tests and the bench watch it drain). */
  get out(): OutboundAudio { return this.agent.out; }
  /** STT socket writes (quiet frames are batched, so fewer than frames in). */
  get sttWrites(): number { return this.callerAudio.sttWrites; }

  /** Plays the cached greeting at once, then opens STT and TTS. Synchronous up to the first frame. */
  start(): void {
    metrics.activeCalls.inc();
    this.agent.start();
    const startAt = performance.now();
    const viaTts = this.o.greetingVia === 'tts';
    const audio = viaTts ? null : this.o.lines.greeting(this.speech.linesSlot, this.speech.configKey);
    let firstFrameAt: number | undefined;
    if (audio) firstFrameAt = this.agent.playClip('greeting', this.o.greeting, audio, startAt).firstSentAt;
    // Queued for the TTS socket, which opens just below; the caller hears it as soon as the first audio arrives.
    else if (viaTts) this.agent.speak('line', this.o.greeting);
    this.emit('greeting', { startAt, firstFrameAt });
    this.record.add('utterance', { role: 'agent', text: this.o.greeting, greeting: true });
    // Socket set-up is the costly part of a start; deferring it lets every call arriving in the same burst
    // get its greeting out first. Caller audio meanwhile waits in the STT buffer.
    setImmediate(() => {
      if (this.status.ended) return;
      this.openStt();
      this.agent.open(this.speech.voice);
    });
    const maxSec = this.o.tenant.maxCallSec ?? this.opt.maxCallSec;
    this.maxTimer = setTimeout(() => this.wrapUp(), maxSec * 1000);
    this.maxTimer.unref();
    this.record.saveState();
    if (!audio && !viaTts) this.turns.armSilence();
  }

  // ------------------------------------------------------------------ telephony → voice (hot path first)

  onAudio(mulaw: Buffer): void {
    this.callerAudio.push(mulaw);
  }

  onMark(name: string): void {
    this.agent.out.onMark(name);
  }

  onDtmf(digit: string): void {
    this.turns.onDtmf(digit);
  }

  onEnd(reason: 'stop' | 'socket_closed' | 'error' | 'drain'): void {
    void this.end(reason);
  }

  // ------------------------------------------------------------------ STT

  private openStt(): void {
    const gen = ++this.sttGen;
    this.callerAudio.detach(true);
    const { guards, stt, breakers } = this.o.providers;
    guards.openStt({
      stt, breaker: breakers.stt, signal: this.ac.signal, language: this.speech.sttLanguage,
      onEvent: (e) => { if (gen === this.sttGen) this.onTranscript(e); },
    }).then((s) => {
      if (this.status.ended || gen !== this.sttGen) { void s.close(); return; }
      this.stt = s;
      this.callerAudio.attach(s);
    }, (e: unknown) => {
      if (!this.status.ended) void this.fail('stt', e);
    });
  }

  private onTranscript(e: TranscriptEvent): void {
    if (this.status.ended) return;
    if (e.type === 'closed') { this.onSttClosed(e.error); return; }
    if (e.type === 'final') this.o.languages?.spoken?.observe(e.text, e.language);
    this.turns.onTranscript(e);
  }

  private onSttClosed(error: Error | undefined): void {
    if (this.status.ended || this.status.closing) return;
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

  // ------------------------------------------------------------------ the agent's floor

  private agentHasFloor(): boolean {
    return this.agent.busy || this.conversation.busy;
  }

  /** Silences the agent now and truncates its context to what the caller heard; returns that text. */
  private stopAgent(): string {
    const turn = this.turns.current;
    // A turn not yet committed has said nothing; its held output must never play after this.
    turn?.gate.withdraw();
    const heard = this.agent.stop(turn?.segments ?? []);
    this.conversation.interrupt(heard);
    return heard;
  }

  private onBargeIn(e: BargeInEvent): void {
    metrics.bargeIns.inc({ kind: e.kind });
    this.record.add('barge_in', e.kind === 'speech' ? { kind: e.kind, heard: e.heard, llmAborted: e.llmAborted } : { kind: e.kind });
    this.emit('barge_in', e);
  }

  // ------------------------------------------------------------------ turns

  private startTurn(text: string, speculative: boolean): void {
    this.turns.clearSilence();
    // The caller's words were in another of the tenant's languages: switch first, so they are answered in it.
    const spoken = this.o.languages?.spoken?.take();
    if (spoken) this.switchToLanguage(spoken, 'speech');
    // A turn end with the agent still talking (no SpeechStarted seen): the caller wins.
    if (this.agentHasFloor()) this.stopAgent();
    const timing: TurnTiming = { turn: 0, sttFinalAt: performance.now() };
    const current = (): boolean => this.turns.current === turn;
    const sink: TurnSink = {
      firstToken: () => { timing.llmFirstTokenAt ??= performance.now(); },
      clause: (c) => turn.gate.output(() => {
        if (!current() || this.status.ended) return;
        timing.firstClauseAt ??= performance.now();
        turn.segments.push(this.agent.speak('model', c));
      }),
      line: (name, t) => turn.gate.output(() => { if (current()) turn.segments.push(...this.playLine(name, t)); }),
      toolCall: (e) => this.record.add('tool_call', { id: e.id, name: e.name, arguments: e.arguments.slice(0, 2000) }),
      toolResult: (e) => {
        if (e.ok) this.record.actions.add(e.name);
        this.record.add('tool_result', { id: e.id, name: e.name, ok: e.ok, code: e.code ?? null, ms: Math.round(e.ms) });
      },
      committed: () => turn.gate.settled(),
    };
    const gate = new SpeculativeTurn({ holdMs: speculative ? this.opt.commitHoldMs : 0, onCommit: () => this.onTurnCommitted(turn) });
    const turn: AgentTurn = { timing, segments: [], emitted: false, text, gate, sink };
    this.turns.current = turn;
    if (!speculative) gate.commit();
    this.conversation.run(text, sink).then((r) => {
      if (r.status === 'withdrawn' || gate.withdrawn) return;
      gate.commit();
      this.onTurnDone(turn, r);
    }, (e: unknown) => {
      if (this.status.ended || gate.withdrawn) return;
      gate.commit();
      this.onTurnFailed(turn, e);
    });
  }

  /** The turn is the caller's for good: its words leave the buffer, it is counted, logged and announced. */
  private onTurnCommitted(turn: AgentTurn): void {
    if (this.status.ended) return;
    turn.timing.turn = this.turns.committed();
    this.record.add('utterance', { role: 'caller', text: turn.text });
    this.emit('utterance', { role: 'caller', text: turn.text });
  }

  private onTurnDone(turn: AgentTurn, r: TurnResult): void {
    if (this.status.ended) return;
    if (r.status !== 'interrupted') this.llmTimeouts = 0;
    if (r.text && r.status !== 'interrupted') {
      this.record.add('utterance', { role: 'agent', text: r.text });
      this.emit('utterance', { role: 'agent', text: r.text });
    }
    // What the model meant to say when the caller cut in; the barge_in event before it holds what was heard.
    if (r.status === 'interrupted' && r.text) this.record.add('utterance', { role: 'agent', text: r.text, interrupted: true });
    if (r.status === 'fallback') this.record.add('line', { name: 'toolFallback', reason: r.fallback ?? null });
    if (r.status === 'control' && r.control === 'end') void this.finishAfterPlayback('end_call', r.text ? null : 'goodbye');
    if (r.status === 'control' && r.control === 'transfer') void this.transferToHuman('tool');
    if (!turn.emitted && turn.segments.length === 0) { turn.emitted = true; this.emit('turn', turn.timing); }
    this.record.saveState();
    if (!this.agentHasFloor()) this.turns.armSilence();
  }

  private onFirstFrame(seg: Segment, now: number): void {
    const turn = this.turns.current;
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
    this.record.add('turn_timing', {
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
    this.record.add('language', { from: this.speech.language, to: next.language, source });
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
    const tts = this.agent.detachSocket();
    if (tts) void tts.close();
    this.agent.open(next.voice);
    if (greeting) {
      const audio = this.o.lines.greeting(next.linesSlot, next.configKey);
      if (audio) this.agent.playClip('greeting', greeting, audio);
      else this.agent.speak('line', greeting);
      this.record.add('utterance', { role: 'agent', text: greeting, greeting: true });
      this.emit('utterance', { role: 'agent', text: greeting });
    }
    this.emit('language', { language: next.language });
    this.record.saveState();
    return true;
  }

  // ------------------------------------------------------------------ scripted lines and endings

  /** Plays a cached line, or speaks it through TTS when it isn't cached. Returns its segment(s). */
  private playLine(name: LineName, text: string = this.speech.script[name]): Segment[] {
    this.record.add('line', { name });
    const audio = this.o.lines.line(this.speech.linesSlot, this.speech.configKey, name);
    if (audio) return [this.agent.playClip('line', text, audio)];
    if (this.status.failing) return [];
    return [this.agent.speak('line', text)];
  }

  /** Resolves once everything queued has played (or its length plus the grace passed). */
  private waitForPlayback(): Promise<void> {
    return this.agent.whenIdle(this.opt.closingGraceMs);
  }

  private async finishAfterPlayback(reason: EndReason, line: LineName | null): Promise<void> {
    if (this.status.closing || this.status.ended) return;
    this.status.closing = true;
    this.turns.clearSilence();
    if (line) this.playLine(line);
    await this.waitForPlayback();
    await this.hangUp(reason);
  }

  private async transferToHuman(source: 'tool' | 'dtmf'): Promise<void> {
    if (this.status.closing || this.status.ended || this.status.failing) return;
    this.status.closing = true;
    this.turns.clearSilence();
    if (source === 'dtmf' && this.agentHasFloor()) this.stopAgent();
    const turn = this.turns.current;
    if (source === 'dtmf' || !turn || turn.segments.length === 0) this.playLine('transfer');
    this.record.add('transfer', { source });
    await this.waitForPlayback();
    if (this.status.ended) return;
    try {
      if (!this.o.control) throw new Error('no call control available');
      await this.o.control.transfer({ tenantId: this.tenantId, callSid: this.callSid });
      this.record.outcome = 'transferred';
      await this.end('transferred');
      this.o.link.close();
    } catch (e) {
      this.lg.warn({ err: (e as Error).message }, 'transfer failed; callback task stored instead');
      this.record.outcome = 'callback';
      await this.record.storeCallbackTask('transfer_failed');
      this.status.closing = false;
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
    if (this.status.ended) return this.done;
    if (!this.status.closing) {
      if (this.agentHasFloor()) this.stopAgent();
      await this.finishAfterPlayback('drain', 'wrapUp');
    }
    return this.done;
  }

  private wrapUp(): void {
    if (this.status.ended || this.status.closing) return;
    if (this.agentHasFloor()) this.stopAgent();
    void this.finishAfterPlayback('max_duration', 'wrapUp');
  }

  private async hangUp(reason: EndReason): Promise<void> {
    if (this.status.ended) return;
    const control = this.o.control;
    if (control) {
      control.hangUp({ tenantId: this.tenantId, callSid: this.callSid })
        .catch((e: unknown) => this.lg.warn({ err: (e as Error).message }, 'hang-up request failed; closing the stream'));
    }
    this.o.link.close();
    await this.end(reason);
  }

  /** The silence timer fired: the first time a prompt, the second time goodbye. */
  private onSilence(first: boolean): void {
    if (first) {
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
    if (this.status.failing || this.status.ended) return;
    this.status.failing = true;
    const category = errorCategory(err);
    this.lg.error({ code: 'VOI_ERR_PROVIDER_FAILED', provider: kind, category, err: (err as Error)?.message }, 'voice provider failed; playing the fallback line');
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds[kind], category });
    this.record.add('error', { code: 'VOI_ERR_PROVIDER_FAILED', provider: kind, category });
    this.emit('failed', { kind, category });
    this.record.outcome = 'callback';
    try {
      this.turns.dropBarge();
      this.turns.clearSilence();
      if (this.agentHasFloor()) this.stopAgent();
      const task = this.record.storeCallbackTask(`provider_failed:${kind}`);
      const audio = this.o.lines.line(this.speech.linesSlot, this.speech.configKey, 'providerFallback');
      if (audio) this.agent.playClip('line', this.speech.script.providerFallback, audio);
      this.record.add('line', { name: 'providerFallback' });
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
    if (this.status.failing || this.status.closing || !isPluginError(e) || e.category !== 'timeout' || ++this.llmTimeouts > 1) {
      void this.fail('llm', e);
      return;
    }
    this.lg.warn({ code: 'VOI_ERR_PROVIDER_FAILED', provider: 'llm', category: 'timeout', err: e.message }, 'llm timed out; fallback line, the call goes on');
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds.llm, category: 'timeout' });
    this.record.add('error', { code: 'VOI_ERR_PROVIDER_FAILED', provider: 'llm', category: 'timeout', recovered: true });
    // The transcript keeps what the caller was given to hear, as the conversation's context does.
    const said = turn.segments.filter((seg) => seg.kind === 'model').map((seg) => seg.text).join('');
    if (said) {
      this.record.add('utterance', { role: 'agent', text: said, partial: true });
      this.emit('utterance', { role: 'agent', text: said });
    }
    const line = this.playLine('toolFallback');
    if (this.turns.current === turn) turn.segments.push(...line);
    this.conversation.noteAgentLine(this.speech.script.toolFallback);
    this.record.saveState();
    if (!this.agentHasFloor()) this.turns.armSilence();
  }

  /**
   * Flushed text got no TTS audio for `ttsStallMs`. The first time, the stalled socket is closed and a fresh
   * one opened: the cut-off answer is handled like a barge-in (context cut to what was heard), the cached
   * apology plays, and the call goes on. A second stall is a TTS outage and goes to {@link fail}.
   */
  private onTtsStalled(): void {
    const err = new PluginError('timeout', `no TTS audio for ${this.opt.ttsStallMs} ms`);
    if (this.status.failing || this.status.closing || ++this.ttsStalls > 1) {
      void this.fail('tts', err);
      return;
    }
    this.lg.warn({ code: 'VOI_ERR_PROVIDER_FAILED', provider: 'tts', category: 'timeout' }, 'tts stalled; reopening the socket, the call goes on');
    metrics.pluginErrors.inc({ plugin: this.o.providers.pluginIds.tts, category: 'timeout' });
    // Detached first: stopAgent() then sends no Clear to it, and anything spoken next waits for the new socket.
    const stalled = this.agent.detachSocket();
    const heard = this.stopAgent();
    this.record.add('error', { code: 'VOI_ERR_PROVIDER_FAILED', provider: 'tts', category: 'timeout', recovered: true, heard });
    if (stalled) void stalled.close();
    this.playLine('toolFallback');
    this.conversation.noteAgentLine(this.speech.script.toolFallback);
    this.agent.open(this.speech.voice);
  }

  // ------------------------------------------------------------------ cleanup

  /** Idempotent cleanup on every exit path: provider sessions, timers, pacer, events, call row, CRM job. */
  async end(reason: EndReason): Promise<void> {
    if (this.status.ended) return this.done;
    this.status.ended = true;
    this.turns.close();
    this.ac.abort();
    if (this.maxTimer) clearTimeout(this.maxTimer);
    const framesIn = this.callerAudio.framesIn;
    this.callerAudio.close();
    const ttsClosed = this.agent.close();
    const out = this.agent.out.stats;
    metrics.activeCalls.dec();
    metrics.mediaFrames.inc({ direction: 'in' }, framesIn);
    metrics.mediaFrames.inc({ direction: 'out' }, out.framesSent);
    try {
      const sessions: Promise<void>[] = [ttsClosed];
      if (this.stt) sessions.push(this.stt.close());
      this.stt = null;
      await Promise.allSettled(sessions);
      const outcome = await this.record.finish({ reason, framesIn, framesOut: out.framesSent });
      this.lg.info({ reason, outcome, turns: this.turns.count, framesIn, sttWrites: this.sttWrites, framesOut: out.framesSent, underruns: out.underruns }, 'call ended');
    } catch (e) {
      this.lg.error({ err: (e as Error).message }, 'call cleanup step failed');
    } finally {
      this.emit('ended', { reason });
      this.resolveDone();
    }
  }
}
