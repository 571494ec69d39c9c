import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createDeepgramTts } from './tts.js';
export default definePlugin({
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
//# sourceMappingURL=index.js.map