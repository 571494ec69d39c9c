import { EventEmitter } from 'node:events';
import type { AppConfig } from '../config.js';
import { ServiceLaneError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { ServiceType } from '../tenancy/config.js';
import type { CrmConnector, SttProvider, ToolSchema, TtsProvider } from '../sdk/index.js';
import type { StateStore } from '../state/store.js';
import type { Tenant } from '../tenancy/tenants.js';
import type { CallHandler, CallStart, MediaLink } from '../telephony/media-link.js';
import { newCallIdentity, type CallIdentity, type ReminderCallFacts } from '../tools/identity.js';
import { CallSession, DEFAULT_VOICE_OPTIONS, type CallControl, type JobsPort, type VoiceOptions } from './call-session.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import type { LlmStream, ToolRunResult, ToolRunner } from './conversation.js';
import { LineCache } from './line-cache.js';
import { primaryLanguage, resolveCallLanguage, type CallLanguage } from '../i18n/call-language.js';
import { detectsSpokenLanguage } from '../i18n/language-detect.js';
import { callLanguages } from './language-switch.js';
import type { Language } from '../i18n/messages.js';
import { sharedPacer, type Pacer } from './pacer.js';
import { createCrmLogHandler, type CrmLogJob } from './post-call.js';
import { buildSystemPrompt } from './prompt.js';
import { buildReminderPrompt, reminderGreeting } from './reminder-prompt.js';
import { DEFAULT_BUDGETS, ProviderGuards, type ProviderBudgets, type VoicePlugins, type VoiceSlot } from './providers.js';

/** Longest the wrap-up line may take to play at shutdown (it is ~7 s of speech) before the call is cut. */
const WRAP_UP_LIMIT_MS = 15_000;

/** The Toolbox methods voice calls (core/tools/toolbox.ts satisfies it). */
export interface ToolboxPort {
  schemasFor(identity: CallIdentity, o?: { serviceTypes?: readonly Pick<ServiceType, 'id'>[] }): ToolSchema[];
  execute(identity: CallIdentity, call: { name: string; arguments: string }, o?: { signal?: AbortSignal; now?: Date }): Promise<ToolRunResult>;
}

/** The TenantService methods voice calls. */
export interface TenantsPort {
  getActive(id: string): Promise<Tenant>;
  withTenant: WithTenant;
}

/**
 * Answered reminder calls (core/outbound/answered-reminder.ts satisfies it). `open` reads the server-side facts of
 * the attempt a stream ticket names (and refuses a ticket that doesn't match); `finish` records the outcome of a
 * call whose conversation decided nothing.
 */
export interface ReminderCallsPort {
  open(o: { tenantId: string; callId: string; attemptId: string; dialled: ReadonlyArray<string | null> }): Promise<{ facts: ReminderCallFacts; firstName: string | null }>;
  finish(o: { tenantId: string; identity: CallIdentity }): Promise<void>;
}

/**
 * Per-call metering (core/usage implements it): wraps one call's providers and tools so counting happens
 * where the work does, and `close` runs once the session's cleanup finished. Optional: without it calls run
 * unmetered.
 */
export interface CallMeterPort {
  meterCall(o: { tenantId: string; callSid: string; callId: string; direction: 'inbound' | 'outbound'; pluginIds: Record<VoiceSlot, string>; model?: string }): {
    stt(p: SttProvider): SttProvider;
    tts(p: TtsProvider): TtsProvider;
    llm(s: LlmStream): LlmStream;
    tools(t: ToolRunner): ToolRunner;
    close(o: { reason: string }): Promise<void>;
  };
}

export interface VoiceServiceInit {
  cfg: AppConfig;
  tenants: TenantsPort;
  registry: VoicePlugins;
  toolbox: ToolboxPort;
  state: StateStore;
  jobs?: JobsPort;
  logger: Logger;
  telephony?: CallControl;
  /** Outbound reminder calls; without it an outbound stream naming a reminder attempt is refused. */
  reminderCalls?: ReminderCallsPort;
  meter?: CallMeterPort;
  /** Overrides for tests and the bench. */
  options?: Partial<VoiceOptions>;
  budgets?: Partial<ProviderBudgets>;
  pacer?: Pacer;
}

/** The tools offered to the model for one tenant: the toolbox, with the tenant's service types as an enum. */
export function toolRunnerFor(toolbox: ToolboxPort, serviceTypes: readonly Pick<ServiceType, 'id'>[]): ToolRunner {
  return {
    schemasFor: (identity) => toolbox.schemasFor(identity, { serviceTypes }),
    execute: (identity, call, o) => toolbox.execute(identity, call, o),
  };
}

/**
 * Runs the voice side of calls in this process. Telephony calls `startCall` once a media stream proved it
 * belongs to a signed call; the returned handler receives the stream's audio, marks, DTMF and end.
 * Emits `call` with each new CallSession (before its greeting starts).
 */
export class VoiceService extends EventEmitter<{ call: [CallSession] }> {
  readonly lines: LineCache;
  readonly guards: ProviderGuards;
  private readonly sessions = new Set<CallSession>();
  private readonly opt: VoiceOptions;
  private readonly pacer: Pacer;

  constructor(private readonly o: VoiceServiceInit) {
    super();
    this.opt = { ...DEFAULT_VOICE_OPTIONS, ...o.options };
    this.guards = new ProviderGuards({ ...DEFAULT_BUDGETS, ...o.budgets });
    this.pacer = o.pacer ?? sharedPacer();
    this.lines = new LineCache({ onError: (e) => o.logger.warn({ err: (e as Error).message }, 'line synthesis failed; it is retried on the next call') });
  }

  /** Live calls in this process (metrics.activeCalls counts the same). */
  get active(): number { return this.sessions.size; }

  /** The live sessions, for tests, the bench and the admin view. */
  list(): CallSession[] { return [...this.sessions]; }

  find(callSid: string): CallSession | undefined {
    for (const s of this.sessions) if (s.callSid === callSid) return s;
    return undefined;
  }

  /** Waits until every live call has ended (drain on SIGTERM: new streams are refused meanwhile). */
  async drain(o: { timeoutMs?: number } = {}): Promise<void> {
    const all = Promise.all([...this.sessions].map((s) => s.done));
    if (o.timeoutMs === undefined) { await all; return; }
    await Promise.race([all, new Promise((r) => setTimeout(r, o.timeoutMs).unref())]);
  }

  private linesKey(t: Tenant, lang: CallLanguage): string {
    return `${t.configHash}|${lang.voice ?? ''}`;
  }

  /** The line-cache slot of a tenant's language (core/voice/line-cache.ts). */
  private linesSlot(tenantId: string, lang: CallLanguage): string {
    return `${tenantId}|${lang.language}`;
  }

  /**
   * Synthesises the tenant's greeting and scripted lines (once per config and language, in the call's voice),
   * so calls start speaking at once. Without `language`, every language the tenant serves.
   */
  async prewarm(tenantId: string, language?: Language): Promise<void> {
    const t = await this.o.tenants.getActive(tenantId);
    const cfg = t.config;
    if (!cfg) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; calls are disabled');
    const tts = await this.o.registry.get(tenantId, 'tts');
    const breaker = this.guards.breaker(tenantId, 'tts', cfg.plugins.tts?.plugin ?? 'tts');
    const langs = language ? [language] : (cfg.languages as Language[]);
    await Promise.all(langs.map((l) => {
      const lang = resolveCallLanguage(cfg, l);
      return this.lines.load({
        slot: this.linesSlot(t.id, lang), key: this.linesKey(t, lang), greeting: lang.greeting, lines: lang.lines,
        synthesize: (text) => this.guards.synthesize({ tts, breaker, text, voice: lang.voice }),
      });
    }));
  }

  /**
   * Starts the conversation for a verified stream. The greeting's first frame is sent before this resolves
   * (when prewarmed); STT and TTS sessions open in the background. Rejects (and opens nothing) when the
   * tenant can't take calls: inactive, invalid config, or a voice slot unconfigured.
   */
  async startCall(start: CallStart, link: MediaLink): Promise<CallHandler> {
    const t = await this.o.tenants.getActive(start.tenantId);
    const cfg = t.config;
    if (!cfg) throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; calls are disabled');
    // Before anything costly: a ticket naming a reminder attempt that doesn't check out opens nothing.
    const reminder = await this.openReminder(start);
    const [stt, tts, llm] = await Promise.all([
      this.o.registry.get(t.id, 'stt'), this.o.registry.get(t.id, 'tts'), this.o.registry.get(t.id, 'llm'),
    ]);
    // A reminder call has its own (English) script: it neither listens for nor offers another language.
    const lang = resolveCallLanguage(cfg, primaryLanguage(cfg), { detect: !reminder && detectsSpokenLanguage(cfg) });
    const key = this.linesKey(t, lang);
    const slot = this.linesSlot(t.id, lang);
    if (!this.lines.ready(slot, key)) await this.prewarm(t.id, lang.language);
    if (cfg.languages.length > 1) {
      // The other languages' lines, for a caller who picks one by keypad or by speaking; synthesised in the background.
      void this.prewarm(t.id).catch((e: unknown) => this.o.logger.warn({ err: (e as Error).message }, 'line synthesis for other languages failed'));
    }
    const languages = reminder ? undefined : callLanguages({
      cfg, start: lang,
      speechFor: (r) => ({
        linesSlot: this.linesSlot(t.id, r), configKey: this.linesKey(t, r),
        systemPrompt: buildSystemPrompt(cfg, { now: new Date(), direction: start.direction, language: r.language }),
      }),
    });
    const pluginIds = { stt: cfg.plugins.stt?.plugin ?? 'stt', tts: cfg.plugins.tts?.plugin ?? 'tts', llm: cfg.plugins.llm?.plugin ?? 'llm' };
    const llmBreaker = this.guards.breaker(t.id, 'llm', pluginIds.llm);
    const identity = newCallIdentity({ tenantId: t.id, callSid: start.callSid, callerPhone: reminder ? reminder.facts.phone : start.from, language: lang.language });
    if (reminder) identity.reminder = reminder.facts;
    const metered = this.o.meter?.meterCall({ tenantId: t.id, callSid: start.callSid, callId: start.callId, direction: start.direction, pluginIds, model: cfg.agent?.model });
    const llmStream = this.guards.llm({ llm, breaker: llmBreaker });
    const tools = toolRunnerFor(this.o.toolbox, cfg.serviceTypes);
    const now = new Date();
    const session = new CallSession({
      start, link,
      tenant: {
        id: t.id, name: cfg.name, configKey: key, humanDtmfKey: cfg.agent?.humanDtmfKey, silencePromptSec: cfg.agent?.silencePromptSec,
        maxCallSec: cfg.agent?.maxCallSec, voice: lang.voice, language: lang.sttLanguage, linesSlot: slot,
      },
      script: lang.lines,
      language: lang.language,
      languages,
      identity,
      // A reminder call's greeting names the customer, so it is spoken through TTS rather than the tenant's cached clip.
      systemPrompt: reminder ? buildReminderPrompt(cfg, { now, firstName: reminder.firstName, language: lang.language }) : buildSystemPrompt(cfg, { now, direction: start.direction, language: lang.language }),
      greeting: reminder ? reminderGreeting({ dealership: cfg.name, firstName: reminder.firstName, language: lang.language }) : lang.greeting,
      greetingVia: reminder ? 'tts' : 'cached',
      model: cfg.agent?.model,
      providers: {
        stt: metered ? metered.stt(stt) : stt, tts: metered ? metered.tts(tts) : tts, llm: metered ? metered.llm(llmStream) : llmStream,
        breakers: { stt: this.guards.breaker(t.id, 'stt', pluginIds.stt), tts: this.guards.breaker(t.id, 'tts', pluginIds.tts) },
        pluginIds, guards: this.guards,
      },
      tools: metered ? metered.tools(tools) : tools,
      lines: this.lines,
      withTenant: (id, fn) => this.o.tenants.withTenant(id, fn),
      state: this.o.state,
      jobs: this.o.jobs,
      control: this.o.telephony,
      pacer: this.pacer,
      logger: this.o.logger,
      options: this.opt,
    });
    this.sessions.add(session);
    void session.done.then(() => this.sessions.delete(session));
    if (metered) {
      let reason = 'unknown';
      session.once('ended', (e) => { reason = e.reason; });
      void session.done.then(() => metered.close({ reason })).catch((e: unknown) => this.o.logger.error({ tenantId: t.id, callSid: start.callSid, err: (e as Error).message }, 'call metering could not be closed'));
    }
    if (reminder && this.o.reminderCalls) {
      const calls = this.o.reminderCalls;
      void session.done.then(() => calls.finish({ tenantId: t.id, identity: session.conversation.identity }));
    }
    // Before start(), so a listener sees the greeting event.
    this.emit('call', session);
    session.start();
    return session;
  }

  /**
   * The reminder attempt an outbound stream is about, or null for any other stream. Refuses (and so opens no
   * provider session) when the ticket names an attempt but this process has no reminder calls wired.
   */
  private async openReminder(start: CallStart): Promise<{ facts: ReminderCallFacts; firstName: string | null } | null> {
    const attemptId = start.direction === 'outbound' ? start.params.reminderAttemptId : undefined;
    if (attemptId === undefined) return null;
    if (!this.o.reminderCalls) throw new ServiceLaneError('VOI_ERR_REMINDER_CALL_INVALID', 'reminder calls are not wired in this process', { reason: 'not_wired' });
    // The dialled customer is `from` on an outbound ticket (media-link.ts); `to` is accepted too, whichever the dialer filled.
    return this.o.reminderCalls.open({ tenantId: start.tenantId, callId: start.callId, attemptId, dialled: [start.from, start.to] });
  }

  /**
   * Shutdown: lets live calls finish for up to `graceMs` (default `drainGraceMs`; core/main.ts passes
   * DRAIN_TIMEOUT_MS). Calls still live at the limit hear the wrap-up line and are hung up; anything that has
   * not ended `closingGraceMs` after its line is cut (reason `drain`), so the limit is a real bound.
   */
  async close(o: { graceMs?: number } = {}): Promise<void> {
    if (this.sessions.size) await this.drain({ timeoutMs: o.graceMs ?? this.opt.drainGraceMs });
    const left = [...this.sessions];
    if (left.length === 0) return;
    this.o.logger.warn({ calls: left.length }, 'drain grace limit reached; ending live calls with the wrap-up line');
    const cut = () => new Promise<void>((r) => setTimeout(r, WRAP_UP_LIMIT_MS + this.opt.closingGraceMs).unref());
    await Promise.all(left.map((s) => Promise.race([s.endForShutdown(), cut()])));
    await Promise.all([...this.sessions].map((s) => s.end('drain')));
  }

  /** The crm-log job handler; registered by the app wiring with `jobs.register('crm-log', …)`. */
  crmLogHandler(): (data: CrmLogJob) => Promise<unknown> {
    return createCrmLogHandler({
      withTenant: (id, fn) => this.o.tenants.withTenant(id, fn),
      crm: (tenantId) => this.o.registry.get(tenantId, 'crm') as Promise<CrmConnector>,
      logger: this.o.logger,
    });
  }
}
