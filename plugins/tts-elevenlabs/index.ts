import type { JSONSchemaType } from 'ajv';
import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createElevenLabsTts, type ElevenLabsSettings } from './tts.js';

export interface ElevenLabsCredentials { apiKey: string }

const settingsSchema: JSONSchemaType<ElevenLabsSettings> = {
  type: 'object',
  additionalProperties: false,
  required: [],
  properties: {
    voiceId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', nullable: true },
    modelId: { type: 'string', pattern: '^[a-z0-9_]{1,64}$', nullable: true },
    languageCode: { type: 'string', pattern: '^[a-z]{2}$', nullable: true },
    stability: { type: 'number', minimum: 0, maximum: 1, nullable: true },
    similarityBoost: { type: 'number', minimum: 0, maximum: 1, nullable: true },
    speed: { type: 'number', minimum: 0.7, maximum: 1.2, nullable: true },
    baseUrl: { type: 'string', pattern: '^https?://[^\\s/?#]+/?$', maxLength: 300, nullable: true },
  },
};

const credentialsSchema: JSONSchemaType<ElevenLabsCredentials> = {
  type: 'object',
  additionalProperties: false,
  required: ['apiKey'],
  properties: { apiKey: { type: 'string', minLength: 8, maxLength: 256 } },
};

export default definePlugin<'tts', ElevenLabsSettings, ElevenLabsCredentials>({
  id: 'tts-elevenlabs',
  kind: 'tts',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'ElevenLabs text-to-speech: the multi-context WebSocket (ulaw_8000) clause by clause, a context closed on barge-in, REST for cached lines.',
  settingsSchema,
  credentialsSchema,
  capabilities: { streamingInput: true, clear: true },
  create: (ctx, { settings, credentials }) => createElevenLabsTts(ctx, settings ?? {}, credentials.apiKey),
});
