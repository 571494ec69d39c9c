import type { ChatMessage, LlmDelta, ToolCall, ToolSchema } from '../sdk/index.js';
import type { CallIdentity } from '../tools/identity.js';
import type { Logger } from '../observability/logger.js';
import { ClauseSplitter } from './clauses.js';
import { LINES, type LineName, type ScriptedLines } from './lines.js';

/** The slice of the Toolbox the conversation uses (core/tools). Execute never throws. */
export interface ToolRunner {
  schemasFor(identity: CallIdentity): ToolSchema[];
  execute(identity: CallIdentity, call: { name: string; arguments: string }, o?: { signal?: AbortSignal }): Promise<ToolRunResult>;
}
export interface ToolRunResult { ok: boolean; content: string; code?: string; identity: CallIdentity; control?: 'transfer' | 'end' }

/** A guarded LLM stream (breaker, first-token and stall budgets are applied by the caller, see providers.ts). */
export type LlmStream = (o: { messages: ChatMessage[]; tools?: ToolSchema[]; model?: string; signal: AbortSignal }) => AsyncIterable<LlmDelta>;

/** What one turn reports as it happens. All optional: the console prints, the call session speaks. */
export interface TurnSink {
  /** The first delta of the first LLM round arrived. */
  firstToken?(): void;
  /** Model text to speak, as a raw slice of the answer (clauses concatenate to the assistant's text). */
  clause?(text: string): void;
  /** A scripted line to speak (filler while a tool runs, or the tool fallback). Not part of the model's text. */
  line?(name: LineName, text: string): void;
  toolCall?(e: { id: string; name: string; arguments: string }): void;
  toolResult?(e: { id: string; name: string; ok: boolean; code?: string; ms: number; content: string }): void;
  /**
   * A speculative turn (started before the caller was surely done) waits here before running any tool, so
   * nothing with a side effect happens for a request the caller may still extend. Resolves when the turn is
   * committed; a withdrawn turn aborts instead (see {@link Conversation.withdraw}).
   */
  committed?(): Promise<void>;
}

export type TurnStatus = 'complete' | 'interrupted' | 'fallback' | 'control' | 'withdrawn';
export interface TurnResult {
  status: TurnStatus;
  control?: 'transfer' | 'end';
  /** Every character of model text the turn produced (spoken or meant to be). */
  text: string;
  toolRounds: number;
  fallback?: 'bad_tool_calls' | 'step_cap';
}

export interface ConversationOptions {
  llm: LlmStream;
  tools: ToolRunner;
  identity: CallIdentity;
  systemPrompt: string;
  /** Said by the agent before the first turn (the greeting), so the model knows what the caller heard. */
  greeting?: string;
  /** Scripted lines in the call's language (filler, tool fallback); English when absent (the text console). */
  lines?: Pick<ScriptedLines, 'filler' | 'toolFallback'>;
  model?: string;
  /** Tool rounds per caller turn before the model is stopped (LLM10: unbounded consumption). */
  maxToolSteps?: number;
  /** A tool round slower than this gets the filler line, once per turn. */
  fillerAfterMs?: number;
  minClauseChars?: number;
  /** Aborted when the call ends: in-flight tools and LLM streams stop. */
  signal?: AbortSignal;
  logger?: Logger;
  /** The verified customer, candidates or counters changed (the session persists them). */
  onIdentity?: (identity: CallIdentity) => void;
}

interface ActiveTurn {
  ac: AbortController;
  interrupted: boolean;
  heard: string;
  /** Withdrawn speculative turn: it leaves no trace in the messages. */
  withdrawn: boolean;
  sink: TurnSink;
}

const BAD_CALL_CODES = new Set(['VOI_ERR_TOOL_ARGS', 'VOI_ERR_TOOL_UNKNOWN']);

function toolError(error: string, message: string): string {
  return JSON.stringify({ error, message });
}

/**
 * Merges identities returned by tool chains that ran in parallel from the same base: counters add their
 * increments, lists union, other changed fields are taken. Each chain saw the base plus its own updates only.
 */
export function mergeIdentities(base: CallIdentity, results: CallIdentity[]): CallIdentity {
  const out: Record<string, unknown> = { ...base };
  const b = base as unknown as Record<string, unknown>;
  for (const r of results) {
    for (const [k, v] of Object.entries(r as unknown as Record<string, unknown>)) {
      const was = b[k];
      if (JSON.stringify(v) === JSON.stringify(was)) continue;
      if (typeof v === 'number' && typeof was === 'number') out[k] = (out[k] as number) + (v - was);
      else if (Array.isArray(v) && Array.isArray(out[k])) out[k] = [...new Set([...(out[k] as unknown[]), ...v])];
      else out[k] = v;
    }
  }
  return out as unknown as CallIdentity;
}

/**
 * The LLM and tool loop of one call, without audio: messages, clause streaming, parallel tool calls with the
 * call's server-side identity, a step cap, a filler line for slow tools, the malformed-tool-call rule
 * (error back to the model once, then a scripted fallback) and barge-in truncation. Used by CallSession and
 * by the text console.
 */
export class Conversation {
  readonly messages: ChatMessage[];
  private _identity: CallIdentity;
  private active: ActiveTurn | null = null;
  /** Index of the first message the last/current turn added after the user's message. */
  private turnStart = -1;
  private running: Promise<TurnResult> | null = null;
  private readonly withdrawnSinks = new WeakSet<TurnSink>();
  private readonly maxToolSteps: number;
  private readonly fillerAfterMs: number;
  private lines: Pick<ScriptedLines, 'filler' | 'toolFallback'>;

  constructor(private readonly o: ConversationOptions) {
    this._identity = o.identity;
    this.messages = [{ role: 'system', content: o.systemPrompt }];
    if (o.greeting) this.messages.push({ role: 'assistant', content: o.greeting });
    this.maxToolSteps = o.maxToolSteps ?? 5;
    this.fillerAfterMs = o.fillerAfterMs ?? 700;
    this.lines = o.lines ?? LINES;
  }

  get identity(): CallIdentity { return this._identity; }
  /** True while a turn is running (LLM streaming or tools executing). */
  get busy(): boolean { return this.active !== null; }

  /**
   * The call goes on in another language: the system prompt and lines are replaced and the call identity
   * carries the language (tools speak dates in it). `greeting`, when the caller hears the greeting again (a
   * keypad choice), is what they heard last; a switch heard in the caller's words has none.
   */
  switchLanguage(o: { systemPrompt: string; lines: Pick<ScriptedLines, 'filler' | 'toolFallback'>; language: string; greeting?: string }): void {
    this.messages[0] = { role: 'system', content: o.systemPrompt };
    this.lines = o.lines;
    this._identity = { ...this._identity, language: o.language };
    this.o.onIdentity?.(this._identity);
    if (o.greeting) this.noteAgentLine(o.greeting);
  }

  /** Records a line the agent said outside the model (scripted), so the model sees it next time. */
  noteAgentLine(text: string): void {
    this.messages.push({ role: 'assistant', content: text });
  }

  /**
   * Runs one caller turn. Turns never overlap: a new turn waits for the previous one to settle (interrupt it
   * first to make that quick). Provider failures reject (the session turns them into the fallback line).
   */
  async run(userText: string, sink: TurnSink = {}): Promise<TurnResult> {
    while (this.running) await this.running.catch(() => undefined);
    const p = this.runTurn(userText, sink);
    this.running = p;
    try {
      return await p;
    } finally {
      if (this.running === p) this.running = null;
    }
  }

  /**
   * The caller talked over the agent. Aborts the LLM stream of a running turn and truncates the agent's
   * messages of the last turn to `heard`: a prefix of the concatenated clauses the caller actually heard.
   */
  interrupt(heard: string): void {
    if (this.active) {
      this.active.interrupted = true;
      this.active.heard = heard;
      this.active.ac.abort();
      return;
    }
    this.truncateTurn(heard);
  }

  /**
   * The caller went on talking before a speculative turn was committed: its stream is aborted and every
   * message it added, the caller's words included, is removed, as if it had never been asked. The words come
   * back in the next turn's request, joined with what the caller added.
   */
  withdraw(sink: TurnSink): void {
    // By sink, not "the active turn": a turn still waiting for the previous one to settle is withdrawn too.
    this.withdrawnSinks.add(sink);
    if (this.active?.sink !== sink) return;
    this.active.withdrawn = true;
    this.active.ac.abort();
  }

  private truncateTurn(heard: string): void {
    if (this.turnStart < 0) return;
    let pos = 0;
    for (let i = this.turnStart; i < this.messages.length; i++) {
      const m = this.messages[i]!;
      if (m.role !== 'assistant') continue;
      const full = m.content ?? '';
      const kept = heard.slice(pos, pos + full.length);
      pos += full.length;
      if (kept === full) continue;
      if (m.tool_calls?.length) {
        m.content = kept || null;
      } else if (kept) {
        m.content = kept;
      } else {
        this.messages.splice(i, 1);
        i--;
      }
    }
  }

  private async runTurn(userText: string, sink: TurnSink): Promise<TurnResult> {
    if (this.withdrawnSinks.has(sink)) return { status: 'withdrawn', text: '', toolRounds: 0 };
    const turn: ActiveTurn = { ac: new AbortController(), interrupted: false, heard: '', withdrawn: false, sink };
    const onCallEnd = () => turn.ac.abort();
    this.o.signal?.addEventListener('abort', onCallEnd, { once: true });
    this.active = turn;
    const userIndex = this.messages.length;
    this.messages.push({ role: 'user', content: userText });
    this.turnStart = this.messages.length;
    let text = '';
    let rounds = 0;
    let badRounds = 0;
    let fillerSaid = false;
    let firstToken = false;
    const finish = (r: Omit<TurnResult, 'text' | 'toolRounds'>): TurnResult => {
      if (turn.withdrawn) {
        this.messages.length = userIndex;
        this.turnStart = -1;
        return { status: 'withdrawn', text: '', toolRounds: 0 };
      }
      if (turn.interrupted) this.truncateTurn(turn.heard);
      return { ...r, text, toolRounds: rounds };
    };
    try {
      for (;;) {
        if (turn.ac.signal.aborted) return finish({ status: 'interrupted' });
        const tools = this.o.tools.schemasFor(this._identity);
        const splitter = new ClauseSplitter({ minChars: this.o.minClauseChars });
        let roundText = '';
        /** The clauses of this round handed to the sink (what the caller is given to hear). */
        let roundSpoken = '';
        const calls: ToolCall[] = [];
        try {
          for await (const d of this.o.llm({ messages: this.messages, tools, model: this.o.model, signal: turn.ac.signal })) {
            if (turn.ac.signal.aborted) break;
            if (!firstToken) { firstToken = true; sink.firstToken?.(); }
            if (d.type === 'text') {
              roundText += d.text;
              for (const c of splitter.push(d.text)) { roundSpoken += c; sink.clause?.(c); }
            } else if (d.type === 'tool_call') {
              calls.push(d.call);
            }
          }
        } catch (e) {
          if (!turn.ac.signal.aborted) {
            // The model failed part-way (a stalled stream): the clauses already handed out are being spoken, so
            // they stay in the context, and the next request agrees with what the caller heard.
            if (roundSpoken) this.messages.push({ role: 'assistant', content: roundSpoken });
            throw e;
          }
        }
        if (turn.ac.signal.aborted) {
          // Tool calls of an aborted stream are incomplete: keep only the text, which truncation then cuts.
          text += roundText;
          if (roundText) this.messages.push({ role: 'assistant', content: roundText });
          return finish({ status: 'interrupted' });
        }
        const rest = splitter.end();
        if (rest) sink.clause?.(rest);
        text += roundText;
        if (calls.length === 0) {
          this.messages.push({ role: 'assistant', content: roundText });
          return finish({ status: 'complete' });
        }

        if (sink.committed) {
          await sink.committed();
          if (turn.ac.signal.aborted) return finish({ status: 'interrupted' });
        }
        rounds++;
        this.messages.push({ role: 'assistant', content: roundText || null, tool_calls: calls });
        for (const c of calls) sink.toolCall?.({ id: c.id, name: c.function.name.slice(0, 64), arguments: c.function.arguments });
        const overCap = rounds > this.maxToolSteps;
        let filler: NodeJS.Timeout | undefined;
        if (!fillerSaid && !roundText && !overCap) {
          filler = setTimeout(() => {
            if (turn.ac.signal.aborted) return;
            fillerSaid = true;
            sink.line?.('filler', this.lines.filler);
          }, this.fillerAfterMs);
        }
        let results: Array<{ call: ToolCall; r: ToolRunResult; ms: number }>;
        try {
          results = await this.executeRound(calls, overCap);
        } finally {
          if (filler) clearTimeout(filler);
        }
        let control: 'transfer' | 'end' | undefined;
        let bad = false;
        for (const { call, r, ms } of results) {
          this.messages.push({ role: 'tool', tool_call_id: call.id, content: r.content });
          sink.toolResult?.({ id: call.id, name: call.function.name.slice(0, 64), ok: r.ok, code: r.code, ms, content: r.content });
          if (r.code && BAD_CALL_CODES.has(r.code)) bad = true;
          control ??= r.control;
        }
        if (control) return finish({ status: 'control', control });
        if (overCap) return this.fallback('step_cap', sink, finish);
        if (bad && ++badRounds >= 2) return this.fallback('bad_tool_calls', sink, finish);
      }
    } finally {
      this.o.signal?.removeEventListener('abort', onCallEnd);
      if (this.active === turn) this.active = null;
    }
  }

  private fallback(reason: 'bad_tool_calls' | 'step_cap', sink: TurnSink, finish: (r: Omit<TurnResult, 'text' | 'toolRounds'>) => TurnResult): TurnResult {
    this.o.logger?.warn({ reason }, 'tool loop stopped; scripted fallback');
    this.messages.push({ role: 'assistant', content: this.lines.toolFallback });
    sink.line?.('toolFallback', this.lines.toolFallback);
    return finish({ status: 'fallback', fallback: reason });
  }

  /**
   * Runs one round's calls: different tools in parallel, repeated calls of one tool in order (so a burst of
   * verify_customer guesses still meets the attempt cap), identity threaded through each chain and merged.
   */
  private async executeRound(calls: ToolCall[], overCap: boolean): Promise<Array<{ call: ToolCall; r: ToolRunResult; ms: number }>> {
    const base = this._identity;
    const out = new Array<{ call: ToolCall; r: ToolRunResult; ms: number }>(calls.length);
    const chains = new Map<string, number[]>();
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
        const call = calls[i]!;
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
