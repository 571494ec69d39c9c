import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createOpenAiLlm, type LlmOpenAiSettings } from './llm.js';

/**
 * The OpenAI key: the dealership's own (credentialsRef), or the platform's OPENAI_API_KEY, which core supplies
 * when the slot has no credentialsRef. Without either the slot is reported "unconfigured: missing credential apiKey".
 */
export interface OpenAiCredentials { apiKey: string }

export default definePlugin<'llm', LlmOpenAiSettings, OpenAiCredentials>({
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
      baseUrl: { type: 'string', nullable: true, format: 'uri', pattern: '^https?://', maxLength: 2048 },
    },
  },
  credentialsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['apiKey'],
    properties: { apiKey: { type: 'string', minLength: 1 } },
  },
  capabilities: { tools: true, parallelToolCalls: true },
  create: (ctx, { settings, credentials }) => createOpenAiLlm(ctx, settings ?? {}, credentials?.apiKey),
});
