import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { findEgressRefusal, PluginError, toPluginError, type ChatMessage, type LlmDelta, type LlmProvider, type PluginContext, type ToolCall, type ToolSchema } from '../../core/sdk/index.js';

/** Per-dealership options. The model can also come per call from the tenant's `agent.model`. */
export interface LlmOpenAiSettings {
  model?: string;
  temperature?: number;
  /** Per-request budget (ms) the SDK enforces; core's breaker has its own, shorter, first-token budget. */
  requestTimeoutMs?: number;
  /** API root (e.g. `https://api.openai.com/v1`); the platform's OPENAI_BASE_URL by default. */
  baseUrl?: string;
}

const PROVIDER = 'openai';
type FinishReason = Extract<LlmDelta, { type: 'done' }>['finishReason'];

function toOpenAiMessage(m: ChatMessage): ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
      return { role: 'system', content: m.content };
    case 'user':
      return { role: 'user', content: m.content };
    case 'tool':
      return { role: 'tool', tool_call_id: m.tool_call_id, content: m.content };
    case 'assistant':
      return m.tool_calls?.length
        ? { role: 'assistant', content: m.content, tool_calls: m.tool_calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.function.name, arguments: c.function.arguments } })) }
        : { role: 'assistant', content: m.content ?? '' };
  }
}

function toOpenAiTool(t: ToolSchema): ChatCompletionTool {
  return { type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } };
}

/** SDK errors to categories: a mid-stream SSE error has no status, a dropped socket hides its code in `cause`. */
function toLlmError(e: unknown): PluginError {
  // The SDK wraps a refused destination in APIConnectionError; the refusal itself is the useful answer.
  const refusal = findEgressRefusal(e);
  if (refusal) return refusal;
  if (e instanceof OpenAI.APIError && e.status === undefined && !(e instanceof OpenAI.APIConnectionError)) {
    return new PluginError('upstream', 'openai stream reported an error', { provider: PROVIDER, cause: e });
  }
  const cause = (e as { cause?: { code?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string' && /^(UND_ERR|ECONN|EPIPE)/.test(cause.code)) {
    return new PluginError('connectivity', `openai stream dropped (${cause.code})`, { provider: PROVIDER, cause: e });
  }
  return toPluginError(e, PROVIDER);
}

function mapFinish(r: string | null | undefined): FinishReason {
  return r === 'stop' || r === 'tool_calls' || r === 'length' || r === 'content_filter' ? r : 'other';
}

/** Tool calls stream as fragments keyed by index; id, type and name come only in the first one. */
class ToolCallAccumulator {
  private readonly byIndex = new Map<number, { id: string; name: string; args: string }>();

  add(frags: ChatCompletionChunk.Choice.Delta.ToolCall[]): void {
    for (const f of frags) {
      let cur = this.byIndex.get(f.index);
      if (!cur) {
        cur = { id: '', name: '', args: '' };
        this.byIndex.set(f.index, cur);
      }
      if (f.id) cur.id = f.id;
      if (f.function?.name) cur.name += f.function.name;
      if (f.function?.arguments) cur.args += f.function.arguments;
    }
  }

  calls(): ToolCall[] {
    return [...this.byIndex.entries()].sort((a, b) => a[0] - b[0])
      .map(([i, c]) => ({ id: c.id || `call_idx_${i}`, type: 'function' as const, function: { name: c.name, arguments: c.args } }));
  }
}

/**
 * @param apiKey the slot's credential: the dealership's own key, or the platform's (OPENAI_API_KEY), which core
 * supplies as this plugin's default credential. Core refuses to create the instance without one.
 */
export function createOpenAiLlm(ctx: PluginContext, settings: LlmOpenAiSettings, apiKey: string | undefined): LlmProvider {
  const timeout = settings.requestTimeoutMs ?? 60_000;
  // Core owns retry and the breaker; SDK retries would hide failures and double the latency budget. Every request
  // leaves through the platform's egress policy (ctx.egress.fetch); the SDK keeps its own timeout.
  const client = apiKey
    ? new OpenAI({ apiKey, baseURL: settings.baseUrl || undefined, maxRetries: 0, timeout, fetch: ctx.egress.fetch })
    : undefined;

  return {
    async *generate(o): AsyncGenerator<LlmDelta> {
      if (!client) throw new PluginError('auth', 'no OpenAI API key configured', { provider: PROVIDER });
      const model = o.model ?? settings.model ?? 'gpt-4o';
      const hasTools = (o.tools?.length ?? 0) > 0;
      let stream: Awaited<ReturnType<typeof openStream>>;
      const openStream = () => client.chat.completions.create({
        model,
        messages: o.messages.map(toOpenAiMessage),
        stream: true,
        stream_options: { include_usage: true },
        ...(hasTools ? { tools: o.tools!.map(toOpenAiTool), parallel_tool_calls: true } : {}),
        ...(o.temperature ?? settings.temperature) !== undefined ? { temperature: o.temperature ?? settings.temperature } : {},
      }, { signal: o.signal });
      try {
        stream = await openStream();
      } catch (e) {
        if (o.signal?.aborted) return;
        throw toLlmError(e);
      }
      const acc = new ToolCallAccumulator();
      let finish: string | null | undefined;
      let usage: { promptTokens: number; completionTokens: number } | undefined;
      let complete = false;
      try {
        for await (const chunk of stream) {
          if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
          // The usage chunk of include_usage has `choices: []`.
          const choice = chunk.choices[0];
          if (!choice) continue;
          const delta = choice.delta;
          if (delta?.content) yield { type: 'text', text: delta.content };
          if (delta?.tool_calls?.length) acc.add(delta.tool_calls);
          if (choice.finish_reason) finish = choice.finish_reason;
        }
        complete = true;
      } catch (e) {
        if (o.signal?.aborted) return;
        throw toLlmError(e);
      } finally {
        // The consumer stopped early (break/return): close the HTTP stream now, not when GC finds it.
        if (!complete) stream.controller.abort();
      }
      // The SDK ends quietly when the socket closes without [DONE]; an abort is the caller's choice, a drop is not.
      if (o.signal?.aborted) return;
      if (!finish) throw new PluginError('upstream', 'openai stream ended without a finish reason', { provider: PROVIDER });
      for (const call of acc.calls()) yield { type: 'tool_call', call };
      yield { type: 'done', finishReason: mapFinish(finish), usage };
    },
  };
}
