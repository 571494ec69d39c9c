import { ClauseSplitter } from './clauses.js';
import { LINES } from './lines.js';
const BAD_CALL_CODES = new Set(['VOI_ERR_TOOL_ARGS', 'VOI_ERR_TOOL_UNKNOWN']);
function toolError(error, message) {
    return JSON.stringify({ error, message });
}
/**
 * Merges identities returned by tool chains that ran in parallel from the same base: counters add their
 * increments, lists union, other changed fields are taken. Each chain saw the base plus its own updates only.
 */
export function mergeIdentities(base, results) {
    const out = { ...base };
    const b = base;
    for (const r of results) {
        for (const [k, v] of Object.entries(r)) {
            const was = b[k];
            if (JSON.stringify(v) === JSON.stringify(was))
                continue;
            if (typeof v === 'number' && typeof was === 'number')
                out[k] = out[k] + (v - was);
            else if (Array.isArray(v) && Array.isArray(out[k]))
                out[k] = [...new Set([...out[k], ...v])];
            else
                out[k] = v;
        }
    }
    return out;
}
/**
 * The LLM and tool loop of one call, without audio: messages, clause streaming, parallel tool calls with the
 * call's server-side identity, a step cap, a filler line for slow tools, the malformed-tool-call rule
 * (error back to the model once, then a scripted fallback) and barge-in truncation. Used by CallSession and
 * by the text console.
 */
export class Conversation {
    o;
    messages;
    _identity;
    active = null;
    /** Index of the first message the last/current turn added after the user's message. */
    turnStart = -1;
    running = null;
    maxToolSteps;
    fillerAfterMs;
    constructor(o) {
        this.o = o;
        this._identity = o.identity;
        this.messages = [{ role: 'system', content: o.systemPrompt }];
        if (o.greeting)
            this.messages.push({ role: 'assistant', content: o.greeting });
        this.maxToolSteps = o.maxToolSteps ?? 5;
        this.fillerAfterMs = o.fillerAfterMs ?? 700;
    }
    get identity() { return this._identity; }
    /** True while a turn is running (LLM streaming or tools executing). */
    get busy() { return this.active !== null; }
    /** Records a line the agent said outside the model (scripted), so the model sees it next time. */
    noteAgentLine(text) {
        this.messages.push({ role: 'assistant', content: text });
    }
    /**
     * Runs one caller turn. Turns never overlap: a new turn waits for the previous one to settle (interrupt it
     * first to make that quick). Provider failures reject (the session turns them into the fallback line).
     */
    async run(userText, sink = {}) {
        while (this.running)
            await this.running.catch(() => undefined);
        const p = this.runTurn(userText, sink);
        this.running = p;
        try {
            return await p;
        }
        finally {
            if (this.running === p)
                this.running = null;
        }
    }
    /**
     * The caller talked over the agent. Aborts the LLM stream of a running turn and truncates the agent's
     * messages of the last turn to `heard`: a prefix of the concatenated clauses the caller actually heard.
     */
    interrupt(heard) {
        if (this.active) {
            this.active.interrupted = true;
            this.active.heard = heard;
            this.active.ac.abort();
            return;
        }
        this.truncateTurn(heard);
    }
    truncateTurn(heard) {
        if (this.turnStart < 0)
            return;
        let pos = 0;
        for (let i = this.turnStart; i < this.messages.length; i++) {
            const m = this.messages[i];
            if (m.role !== 'assistant')
                continue;
            const full = m.content ?? '';
            const kept = heard.slice(pos, pos + full.length);
            pos += full.length;
            if (kept === full)
                continue;
            if (m.tool_calls?.length) {
                m.content = kept || null;
            }
            else if (kept) {
                m.content = kept;
            }
            else {
                this.messages.splice(i, 1);
                i--;
            }
        }
    }
    async runTurn(userText, sink) {
        const turn = { ac: new AbortController(), interrupted: false, heard: '' };
        const onCallEnd = () => turn.ac.abort();
        this.o.signal?.addEventListener('abort', onCallEnd, { once: true });
        this.active = turn;
        this.messages.push({ role: 'user', content: userText });
        this.turnStart = this.messages.length;
        let text = '';
        let rounds = 0;
        let badRounds = 0;
        let fillerSaid = false;
        let firstToken = false;
        const finish = (r) => {
            if (turn.interrupted)
                this.truncateTurn(turn.heard);
            return { ...r, text, toolRounds: rounds };
        };
        try {
            for (;;) {
                if (turn.ac.signal.aborted)
                    return finish({ status: 'interrupted' });
                const tools = this.o.tools.schemasFor(this._identity);
                const splitter = new ClauseSplitter({ minChars: this.o.minClauseChars });
                let roundText = '';
                const calls = [];
                try {
                    for await (const d of this.o.llm({ messages: this.messages, tools, model: this.o.model, signal: turn.ac.signal })) {
                        if (turn.ac.signal.aborted)
                            break;
                        if (!firstToken) {
                            firstToken = true;
                            sink.firstToken?.();
                        }
                        if (d.type === 'text') {
                            roundText += d.text;
                            for (const c of splitter.push(d.text))
                                sink.clause?.(c);
                        }
                        else if (d.type === 'tool_call') {
                            calls.push(d.call);
                        }
                    }
                }
                catch (e) {
                    if (!turn.ac.signal.aborted)
                        throw e;
                }
                if (turn.ac.signal.aborted) {
                    // Tool calls of an aborted stream are incomplete: keep only the text, which truncation then cuts.
                    text += roundText;
                    if (roundText)
                        this.messages.push({ role: 'assistant', content: roundText });
                    return finish({ status: 'interrupted' });
                }
                const rest = splitter.end();
                if (rest)
                    sink.clause?.(rest);
                text += roundText;
                if (calls.length === 0) {
                    this.messages.push({ role: 'assistant', content: roundText });
                    return finish({ status: 'complete' });
                }
                rounds++;
                this.messages.push({ role: 'assistant', content: roundText || null, tool_calls: calls });
                for (const c of calls)
                    sink.toolCall?.({ id: c.id, name: c.function.name.slice(0, 64), arguments: c.function.arguments });
                const overCap = rounds > this.maxToolSteps;
                let filler;
                if (!fillerSaid && !roundText && !overCap) {
                    filler = setTimeout(() => {
                        if (turn.ac.signal.aborted)
                            return;
                        fillerSaid = true;
                        sink.line?.('filler', LINES.filler);
                    }, this.fillerAfterMs);
                }
                let results;
                try {
                    results = await this.executeRound(calls, overCap);
                }
                finally {
                    if (filler)
                        clearTimeout(filler);
                }
                let control;
                let bad = false;
                for (const { call, r, ms } of results) {
                    this.messages.push({ role: 'tool', tool_call_id: call.id, content: r.content });
                    sink.toolResult?.({ id: call.id, name: call.function.name.slice(0, 64), ok: r.ok, code: r.code, ms, content: r.content });
                    if (r.code && BAD_CALL_CODES.has(r.code))
                        bad = true;
                    control ??= r.control;
                }
                if (control)
                    return finish({ status: 'control', control });
                if (overCap)
                    return this.fallback('step_cap', sink, finish);
                if (bad && ++badRounds >= 2)
                    return this.fallback('bad_tool_calls', sink, finish);
            }
        }
        finally {
            this.o.signal?.removeEventListener('abort', onCallEnd);
            if (this.active === turn)
                this.active = null;
        }
    }
    fallback(reason, sink, finish) {
        this.o.logger?.warn({ reason }, 'tool loop stopped; scripted fallback');
        this.messages.push({ role: 'assistant', content: LINES.toolFallback });
        sink.line?.('toolFallback', LINES.toolFallback);
        return finish({ status: 'fallback', fallback: reason });
    }
    /**
     * Runs one round's calls: different tools in parallel, repeated calls of one tool in order (so a burst of
     * verify_customer guesses still meets the attempt cap), identity threaded through each chain and merged.
     */
    async executeRound(calls, overCap) {
        const base = this._identity;
        const out = new Array(calls.length);
        const chains = new Map();
        calls.forEach((c, i) => {
            if (overCap) {
                out[i] = { call: c, r: { ok: false, code: 'step_limit', content: toolError('step_limit', 'Too many tool steps for this request; answer the caller without tools.'), identity: base }, ms: 0 };
                return;
            }
            // Unknown names and malformed JSON are the toolbox's to refuse (VOI_ERR_TOOL_UNKNOWN / VOI_ERR_TOOL_ARGS).
            const list = chains.get(c.function.name) ?? [];
            list.push(i);
            chains.set(c.function.name, list);
        });
        const finals = await Promise.all([...chains.values()].map(async (idxs) => {
            let identity = base;
            for (const i of idxs) {
                const call = calls[i];
                const t0 = performance.now();
                const r = await this.o.tools.execute(identity, { name: call.function.name, arguments: call.function.arguments || '{}' }, { signal: this.o.signal });
                const ms = performance.now() - t0;
                identity = r.identity;
                out[i] = { call, r, ms };
            }
            return identity;
        }));
        const merged = mergeIdentities(base, finals);
        if (JSON.stringify(merged) !== JSON.stringify(base)) {
            this._identity = merged;
            this.o.onIdentity?.(merged);
        }
        return out;
    }
}
//# sourceMappingURL=conversation.js.map