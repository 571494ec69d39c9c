import type { JSONSchemaType } from 'ajv';
import { API_VERSION, definePlugin, isPluginError } from '../../core/sdk/index.js';
import { AttioClient, type AttioCredentials } from './client.js';
import { createAttioCrm, type AttioSettings } from './connector.js';

export type { AttioCredentials, AttioSettings };

const SLUG = '^[a-z][a-z0-9_]{0,62}$';

const settingsSchema: JSONSchemaType<AttioSettings> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    vehicleObject: { type: 'string', pattern: SLUG, nullable: true },
    zipAttribute: { type: 'string', pattern: SLUG, nullable: true },
    timeoutMs: { type: 'integer', minimum: 250, maximum: 30000, nullable: true },
  },
  required: [],
};

const credentialsSchema: JSONSchemaType<AttioCredentials> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    apiKey: { type: 'string', minLength: 16, maxLength: 4096 },
    baseUrl: { type: 'string', pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', maxLength: 300, nullable: true },
  },
  required: ['apiKey'],
};

export default definePlugin<'crm', AttioSettings, AttioCredentials>({
  id: 'crm-attio',
  kind: 'crm',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Attio over its REST v2 API: people, vehicles from a custom object when the workspace has one, calls as notes.',
  settingsSchema,
  credentialsSchema,
  // `vehicles` depends on the workspace (a custom object); the instance serves it when present.
  capabilities: { vehicles: false, serviceHistory: false, interactions: true, createCustomers: true },
  async testConnection(ctx, { settings, credentials }) {
    const client = new AttioClient(ctx, { credentials, timeoutMs: settings.timeoutMs ?? 4000 });
    try {
      await client.request({ method: 'POST', path: '/objects/people/records/query', body: { limit: 1 }, op: 'test connection' });
      return { ok: true };
    } catch (e) {
      const category = isPluginError(e) ? e.category : 'unknown';
      const detail = category === 'auth' ? 'API key rejected'
        : category === 'forbidden' ? 'API key lacks record_permission:read-write or note:read-write'
          : category === 'rate_limit' ? 'rate limited by Attio; try again shortly'
            : category === 'timeout' || category === 'connectivity' ? 'Attio unreachable'
              : `Attio answered with an error (${category})`;
      return { ok: false, detail };
    }
  },
  create: (ctx, config) => createAttioCrm(ctx, config),
});
