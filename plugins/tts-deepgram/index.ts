import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createDeepgramTts } from './tts.js';

/** Per-dealership options. The tenant's `agent.voice` overrides `voice` per call. */
export interface TtsDeepgramSettings {
  /** An Aura voice model, e.g. `aura-asteria-en`. */
  voice?: string;
}

/** A dealership's own Deepgram key; without it the platform key (DEEPGRAM_API_KEY) is used. */
export interface DeepgramCredentials { apiKey?: string }

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
    properties: { voice: { type: 'string', nullable: true, pattern: '^aura-[a-z0-9-]{2,40}$' } },
  },
  credentialsSchema: {
    type: 'object',
    additionalProperties: false,
    required: [],
    properties: { apiKey: { type: 'string', nullable: true, minLength: 1 } },
  },
  capabilities: { streamingInput: true, clear: true },
  create: (ctx, { settings, credentials }) => createDeepgramTts(ctx, settings ?? {}, credentials?.apiKey),
});
