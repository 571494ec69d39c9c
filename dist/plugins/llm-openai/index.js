import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createOpenAiLlm } from './llm.js';
export default definePlugin({
    id: 'llm-openai',
    kind: 'llm',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'OpenAI Chat Completions, streamed, with parallel tool calls; abortable mid-stream for barge-in.',
    settingsSchema: {
        type: 'object',
        additionalProperties: false,
        required: [],
        properties: {
            model: { type: 'string', nullable: true, minLength: 1, maxLength: 64 },
            temperature: { type: 'number', nullable: true, minimum: 0, maximum: 2 },
            requestTimeoutMs: { type: 'integer', nullable: true, minimum: 1000, maximum: 120000 },
        },
    },
    credentialsSchema: {
        type: 'object',
        additionalProperties: false,
        required: [],
        properties: { apiKey: { type: 'string', nullable: true, minLength: 1 } },
    },
    capabilities: { tools: true, parallelToolCalls: true },
    create: (ctx, { settings, credentials }) => createOpenAiLlm(ctx, settings ?? {}, credentials?.apiKey),
});
//# sourceMappingURL=index.js.map