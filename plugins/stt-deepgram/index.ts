import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createDeepgramStt, type SttDeepgramSettings } from './stt.js';

/**
 * The Deepgram key: the dealership's own (credentialsRef), or the platform's DEEPGRAM_API_KEY, which core
 * supplies when the slot has no credentialsRef. Without either the slot is reported "unconfigured: missing credential apiKey".
 */
export interface DeepgramCredentials { apiKey: string }

export default definePlugin<'stt', SttDeepgramSettings, DeepgramCredentials>({
  id: 'stt-deepgram',
  kind: 'stt',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Deepgram live speech-to-text over the listen v1 WebSocket (μ-law 8 kHz, interim results, endpointing, VAD events, `multi` code-switching that reports the language of each final), and pre-recorded transcription of voicemails (REST /v1/listen).',
  settingsSchema: {
    type: 'object',
    additionalProperties: false,
    required: [],
    properties: {
      model: { type: 'string', nullable: true, minLength: 1, maxLength: 64 },
      languageModels: {
        type: 'object', nullable: true, required: [],
        propertyNames: { pattern: '^([a-z]{2,3}|multi)$' },
        additionalProperties: { type: 'string', minLength: 1, maxLength: 64 },
      },
      endpointingMs: { type: 'integer', nullable: true, minimum: 10, maximum: 5000 },
      utteranceEndMs: { type: 'integer', nullable: true, minimum: 1000, maximum: 5000 },
      language: { type: 'string', nullable: true, pattern: '^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$' },
      prerecordedModel: { type: 'string', nullable: true, minLength: 1, maxLength: 64 },
      baseUrl: { type: 'string', nullable: true, format: 'uri', pattern: '^(https?|wss?)://', maxLength: 2048 },
    },
  },
  credentialsSchema: {
    type: 'object',
    additionalProperties: false,
    required: ['apiKey'],
    properties: { apiKey: { type: 'string', minLength: 1 } },
  },
  capabilities: { interim: true, vad: true, languages: ['en', 'es', 'multi'], prerecorded: true },
  create: (ctx, { settings, credentials }) => createDeepgramStt(ctx, settings ?? {}, credentials?.apiKey),
});
