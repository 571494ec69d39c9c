import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { createDeepgramStt } from './stt.js';
export default definePlugin({
    id: 'stt-deepgram',
    kind: 'stt',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Deepgram live speech-to-text over the listen v1 WebSocket (μ-law 8 kHz, interim results, endpointing, VAD events).',
    settingsSchema: {
        type: 'object',
        additionalProperties: false,
        required: [],
        properties: {
            model: { type: 'string', nullable: true, minLength: 1, maxLength: 64 },
            endpointingMs: { type: 'integer', nullable: true, minimum: 10, maximum: 5000 },
            utteranceEndMs: { type: 'integer', nullable: true, minimum: 1000, maximum: 5000 },
            language: { type: 'string', nullable: true, pattern: '^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$' },
        },
    },
    credentialsSchema: {
        type: 'object',
        additionalProperties: false,
        required: [],
        properties: { apiKey: { type: 'string', nullable: true, minLength: 1 } },
    },
    capabilities: { interim: true, vad: true, languages: ['en'] },
    create: (ctx, { settings, credentials }) => createDeepgramStt(ctx, settings ?? {}, credentials?.apiKey),
});
//# sourceMappingURL=index.js.map