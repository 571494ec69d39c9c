import OpenAI from 'openai';
import { PluginError, toPluginError } from '../../core/sdk/index.js';
const PROVIDER = 'openai';
function toOpenAiMessage(m) {
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
function toOpenAiTool(t) {
    return { type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } };
}
/** SDK errors to categories: a mid-stream SSE error has no status, a dropped socket hides its code in `cause`. */
function toLlmError(e) {
    if (e instanceof OpenAI.APIError && e.status === undefined && !(e instanceof OpenAI.APIConnectionError)) {
        return new PluginError('upstream', 'openai stream reported an error', { provider: PROVIDER, cause: e });
    }
    const cause = e?.cause;
    if (typeof cause?.code === 'string' && /^(UND_ERR|ECONN|EPIPE)/.test(cause.code)) {
        return new PluginError('connectivity', `openai stream dropped (${cause.code})`, { provider: PROVIDER, cause: e });
    }
    return toPluginError(e, PROVIDER);
}
function mapFinish(r) {
    return r === 'stop' || r === 'tool_calls' || r === 'length' || r === 'content_filter' ? r : 'other';
}
/** Tool calls stream as fragments keyed by index; id, type and name come only in the first one. */
class ToolCallAccumulator {
    byIndex = new Map();
    add(frags) {
        for (const f of frags) {
            let cur = this.byIndex.get(f.index);
            if (!cur) {
                cur = { id: '', name: '', args: '' };
                this.byIndex.set(f.index, cur);
            }
            if (f.id)
                cur.id = f.id;
            if (f.function?.name)
                cur.name += f.function.name;
            if (f.function?.arguments)
                cur.args += f.function.arguments;
        }
    }
    calls() {
        return [...this.byIndex.entries()].sort((a, b) => a[0] - b[0])
            .map(([i, c]) => ({ id: c.id || `call_idx_${i}`, type: 'function', function: { name: c.name, arguments: c.args } }));
    }
}
export function createOpenAiLlm(ctx, settings, tenantKey) {
    const apiKey = tenantKey ?? ctx.env.OPENAI_API_KEY;
    // Core owns retry and the breaker; SDK retries would hide failures and double the latency budget.
    const client = apiKey
        ? new OpenAI({ apiKey, baseURL: ctx.env.OPENAI_BASE_URL || undefined, maxRetries: 0, timeout: settings.requestTimeoutMs ?? 60_000 })
        : undefined;
    return {
        async *generate(o) {
            if (!client)
                throw new PluginError('auth', 'no OpenAI API key configured', { provider: PROVIDER });
            const model = o.model ?? settings.model ?? 'gpt-4o';
            const hasTools = (o.tools?.length ?? 0) > 0;
            let stream;
            const openStream = () => client.chat.completions.create({
                model,
                messages: o.messages.map(toOpenAiMessage),
                stream: true,
                stream_options: { include_usage: true },
                ...(hasTools ? { tools: o.tools.map(toOpenAiTool), parallel_tool_calls: true } : {}),
                ...(o.temperature ?? settings.temperature) !== undefined ? { temperature: o.temperature ?? settings.temperature } : {},
            }, { signal: o.signal });
            try {
                stream = await openStream();
            }
            catch (e) {
                if (o.signal?.aborted)
                    return;
                throw toLlmError(e);
            }
            const acc = new ToolCallAccumulator();
            let finish;
            let usage;
            let complete = false;
            try {
                for await (const chunk of stream) {
                    if (chunk.usage)
                        usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
                    // The usage chunk of include_usage has `choices: []`.
                    const choice = chunk.choices[0];
                    if (!choice)
                        continue;
                    const delta = choice.delta;
                    if (delta?.content)
                        yield { type: 'text', text: delta.content };
                    if (delta?.tool_calls?.length)
                        acc.add(delta.tool_calls);
                    if (choice.finish_reason)
                        finish = choice.finish_reason;
                }
                complete = true;
            }
            catch (e) {
                if (o.signal?.aborted)
                    return;
                throw toLlmError(e);
            }
            finally {
                // The consumer stopped early (break/return): close the HTTP stream now, not when GC finds it.
                if (!complete)
                    stream.controller.abort();
            }
            // The SDK ends quietly when the socket closes without [DONE]; an abort is the caller's choice, a drop is not.
            if (o.signal?.aborted)
                return;
            if (!finish)
                throw new PluginError('upstream', 'openai stream ended without a finish reason', { provider: PROVIDER });
            for (const call of acc.calls())
                yield { type: 'tool_call', call };
            yield { type: 'done', finishReason: mapFinish(finish), usage };
        },
    };
}
//# sourceMappingURL=llm.js.map