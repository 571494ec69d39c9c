import { EventEmitter } from 'node:events';
import { ServiceLaneError } from '../errors.js';
import { newCallIdentity } from '../tools/identity.js';
import { CallSession, DEFAULT_VOICE_OPTIONS } from './call-session.js';
import { LineCache } from './line-cache.js';
import { defaultGreeting } from './lines.js';
import { sharedPacer } from './pacer.js';
import { createCrmLogHandler } from './post-call.js';
import { buildSystemPrompt } from './prompt.js';
import { DEFAULT_BUDGETS, ProviderGuards } from './providers.js';
/** The tools offered to the model for one tenant: the toolbox, with the tenant's service types as an enum. */
export function toolRunnerFor(toolbox, serviceTypes) {
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
export class VoiceService extends EventEmitter {
    o;
    lines;
    guards;
    sessions = new Set();
    opt;
    pacer;
    constructor(o) {
        super();
        this.o = o;
        this.opt = { ...DEFAULT_VOICE_OPTIONS, ...o.options };
        this.guards = new ProviderGuards({ ...DEFAULT_BUDGETS, ...o.budgets });
        this.pacer = o.pacer ?? sharedPacer();
        this.lines = new LineCache({ onError: (e) => o.logger.warn({ err: e.message }, 'line synthesis failed; it is retried on the next call') });
    }
    /** Live calls in this process (metrics.activeCalls counts the same). */
    get active() { return this.sessions.size; }
    /** The live sessions, for tests, the bench and the admin view. */
    list() { return [...this.sessions]; }
    find(callSid) {
        for (const s of this.sessions)
            if (s.callSid === callSid)
                return s;
        return undefined;
    }
    /** Waits until every live call has ended (drain on SIGTERM: new streams are refused meanwhile). */
    async drain(o = {}) {
        const all = Promise.all([...this.sessions].map((s) => s.done));
        if (o.timeoutMs === undefined) {
            await all;
            return;
        }
        await Promise.race([all, new Promise((r) => setTimeout(r, o.timeoutMs).unref())]);
    }
    linesKey(t) {
        return `${t.configHash}|${t.config?.agent?.voice ?? ''}`;
    }
    greetingOf(t) {
        return t.config?.agent?.greeting ?? defaultGreeting(t.config?.name ?? t.name);
    }
    /** Synthesises the tenant's greeting and scripted lines (once per config), so calls start speaking at once. */
    async prewarm(tenantId) {
        const t = await this.o.tenants.getActive(tenantId);
        if (!t.config)
            throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; calls are disabled');
        const tts = await this.o.registry.get(tenantId, 'tts');
        const breaker = this.guards.breaker(tenantId, 'tts', t.config.plugins.tts?.plugin ?? 'tts');
        const voice = t.config.agent?.voice;
        await this.lines.load({
            tenantId, key: this.linesKey(t), greeting: this.greetingOf(t),
            synthesize: (text) => this.guards.synthesize({ tts, breaker, text, voice }),
        });
    }
    /**
     * Starts the conversation for a verified stream. The greeting's first frame is sent before this resolves
     * (when prewarmed); STT and TTS sessions open in the background. Rejects (and opens nothing) when the
     * tenant can't take calls: inactive, invalid config, or a voice slot unconfigured.
     */
    async startCall(start, link) {
        const t = await this.o.tenants.getActive(start.tenantId);
        const cfg = t.config;
        if (!cfg)
            throw new ServiceLaneError('TEN_ERR_CONFIG_INVALID', 'tenant configuration is invalid; calls are disabled');
        const [stt, tts, llm] = await Promise.all([
            this.o.registry.get(t.id, 'stt'), this.o.registry.get(t.id, 'tts'), this.o.registry.get(t.id, 'llm'),
        ]);
        const key = this.linesKey(t);
        if (!this.lines.ready(t.id, key))
            await this.prewarm(t.id);
        const pluginIds = { stt: cfg.plugins.stt?.plugin ?? 'stt', tts: cfg.plugins.tts?.plugin ?? 'tts', llm: cfg.plugins.llm?.plugin ?? 'llm' };
        const llmBreaker = this.guards.breaker(t.id, 'llm', pluginIds.llm);
        const identity = newCallIdentity({ tenantId: t.id, callSid: start.callSid, callerPhone: start.from });
        const session = new CallSession({
            start, link,
            tenant: {
                id: t.id, name: cfg.name, configKey: key, humanDtmfKey: cfg.agent?.humanDtmfKey, silencePromptSec: cfg.agent?.silencePromptSec,
                maxCallSec: cfg.agent?.maxCallSec, voice: cfg.agent?.voice, language: cfg.locale,
            },
            identity,
            systemPrompt: buildSystemPrompt(cfg, { now: new Date(), direction: start.direction }),
            greeting: this.greetingOf(t),
            model: cfg.agent?.model,
            providers: {
                stt, tts, llm: this.guards.llm({ llm, breaker: llmBreaker }),
                breakers: { stt: this.guards.breaker(t.id, 'stt', pluginIds.stt), tts: this.guards.breaker(t.id, 'tts', pluginIds.tts) },
                pluginIds, guards: this.guards,
            },
            tools: toolRunnerFor(this.o.toolbox, cfg.serviceTypes),
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
        // Before start(), so a listener sees the greeting event.
        this.emit('call', session);
        session.start();
        return session;
    }
    /** Shutdown: lets live calls finish for up to `graceMs` (default `drainGraceMs`), then ends the rest cleanly. */
    async close(o = {}) {
        if (this.sessions.size)
            await this.drain({ timeoutMs: o.graceMs ?? this.opt.drainGraceMs });
        await Promise.all([...this.sessions].map((s) => s.end('drain')));
    }
    /** The crm-log job handler; registered by the app wiring with `jobs.register('crm-log', …)`. */
    crmLogHandler() {
        return createCrmLogHandler({
            withTenant: (id, fn) => this.o.tenants.withTenant(id, fn),
            crm: (tenantId) => this.o.registry.get(tenantId, 'crm'),
            logger: this.o.logger,
        });
    }
}
//# sourceMappingURL=voice-service.js.map