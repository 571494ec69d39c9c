import { API_VERSION, definePlugin, isPluginError } from '../../core/sdk/index.js';
import { PROVIDER, TwentyClient } from './client.js';
import { createTwentyCrm } from './connector.js';
const FIELD_NAME = '^[a-z][a-zA-Z0-9]{0,62}$';
const settingsSchema = {
    type: 'object',
    additionalProperties: false,
    properties: {
        vehicleObject: { type: 'string', pattern: FIELD_NAME, nullable: true },
        zipField: { type: 'string', pattern: FIELD_NAME, nullable: true },
        timeoutMs: { type: 'integer', minimum: 250, maximum: 30000, nullable: true },
    },
    required: [],
};
const credentialsSchema = {
    type: 'object',
    additionalProperties: false,
    properties: {
        apiKey: { type: 'string', minLength: 8, maxLength: 4096 },
        baseUrl: { type: 'string', pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', maxLength: 300 },
    },
    required: ['apiKey', 'baseUrl'],
};
export default definePlugin({
    id: 'crm-twenty',
    kind: 'crm',
    version: '1.0.0',
    apiVersion: API_VERSION,
    description: 'Twenty CRM (open source) over its REST API: people, notes and tasks; vehicles from a custom object when the workspace has one.',
    settingsSchema,
    credentialsSchema,
    // `vehicles` depends on the workspace (a custom object); the instance serves it when present, but core can't
    // count on it, so the static declaration says no.
    capabilities: { vehicles: false, serviceHistory: false, interactions: true, createCustomers: true, callbackTasks: true },
    async testConnection(ctx, { settings, credentials }) {
        const client = new TwentyClient(ctx, { credentials, timeoutMs: settings.timeoutMs ?? 4000 });
        try {
            await client.ok({ method: 'GET', path: '/rest/people', query: { limit: 1, depth: 0 }, op: 'test connection' });
            return { ok: true };
        }
        catch (e) {
            const category = isPluginError(e) ? e.category : 'unknown';
            const detail = category === 'auth' ? 'API key rejected (invalid or expired)'
                : category === 'forbidden' ? 'API key lacks access to people'
                    : category === 'rate_limit' ? 'rate limited by Twenty; try again shortly'
                        : category === 'timeout' || category === 'connectivity' ? `${PROVIDER} unreachable at the configured base URL`
                            : `${PROVIDER} answered with an error (${category})`;
            return { ok: false, detail };
        }
    },
    create: (ctx, config) => createTwentyCrm(ctx, config),
});
//# sourceMappingURL=index.js.map