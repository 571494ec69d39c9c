import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createDeepgramTts, type TtsDeepgramSettings } from './tts.js';

/**
 * The Deepgram key: the dealership's own (credentialsRef), or the platform's DEEPGRAM_API_KEY, which core
 * supplies when the slot has no credentialsRef. Without either the slot is reported "unconfigured: missing credential apiKey".
 */
export interface DeepgramCredentials { apiKey: string }

export default definePlugin<'tts', TtsDeepgramSettings, DeepgramCredentials>({
  id: 'tts-deepgram',
  kind: 'tts',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Deepgram Aura text-to-speech: the speak v1 WebSocket clause by clause (Flush per clause, Clear on barge-in) and REST for cached lines.',
  settingsSchema: {
    type: 'object',
    additionalProperties: false,
    required: [],
    properties: {
      voice: { type: 'string', nullable: true, pattern: '^aura-[a-z0-9-]{2,40}$' },
      baseUrl: { type: 'string', nullable: true, format: 'uri', pattern: '^(https?|wss?)://', maxLength: 2048 },
    },
  },
  credentialsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['apiKey'],
    properties: { apiKey: { type: 'string', minLength: 1 } },
  },
  capabilities: { streamingInput: true, clear: true },
  create: (ctx, { settings, credentials }) => createDeepgramTts(ctx, settings ?? {}, credentials?.apiKey),
});
