import type { JSONSchemaType } from 'ajv';
import { API_VERSION, definePlugin, isPluginError } from '../../core/sdk/index.js';
import { SalesforceClient, type SalesforceCredentials } from './client.js';
import { createSalesforceCrm, type SalesforceSettings } from './connector.js';
import { serviceHistoryProblems, type SalesforceServiceHistoryMapping } from './service-history.js';

export type { SalesforceCredentials, SalesforceServiceHistoryMapping, SalesforceSettings };

const API_NAME = { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_]{0,79}$', nullable: true } as const;

const settingsSchema: JSONSchemaType<SalesforceSettings> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    vehicles: {
      type: 'object', nullable: true, additionalProperties: false, required: [],
      properties: {
        object: API_NAME, contactField: API_NAME, vinField: API_NAME, yearField: API_NAME, makeField: API_NAME, modelField: API_NAME, mileageField: API_NAME,
      },
    },
    serviceHistory: {
      type: 'object', nullable: true, additionalProperties: false, required: [],
      properties: {
        object: API_NAME, contactField: API_NAME, vehicleField: API_NAME, dateField: API_NAME, typeField: API_NAME,
        descriptionField: API_NAME, mileageField: API_NAME, statusField: API_NAME,
        // A picklist value, quoted by the connector; the length cap is Salesforce's for picklist values.
        completedStatus: { type: 'string', minLength: 1, maxLength: 255, nullable: true },
      },
    },
    apiUsageCeiling: { type: 'number', minimum: 0.1, maximum: 1, nullable: true },
    timeoutMs: { type: 'integer', minimum: 250, maximum: 30000, nullable: true },
  },
  required: [],
};

const credentialsSchema: JSONSchemaType<SalesforceCredentials> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    clientId: { type: 'string', minLength: 8, maxLength: 512 },
    clientSecret: { type: 'string', minLength: 8, maxLength: 512 },
    refreshToken: { type: 'string', minLength: 8, maxLength: 4096, nullable: true },
    loginUrl: { type: 'string', pattern: '^https?://[^\\s/?#]+/?$', maxLength: 300 },
  },
  required: ['clientId', 'clientSecret', 'loginUrl'],
};

export default definePlugin<'crm', SalesforceSettings, SalesforceCredentials>({
  id: 'crm-salesforce',
  kind: 'crm',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Salesforce over its REST API (OAuth refresh-token or client-credentials): Contacts, a vehicle object, calls as Task records.',
  settingsSchema,
  credentialsSchema,
  capabilities: { vehicles: true, serviceHistory: true, interactions: true, createCustomers: true },
  validate: (settings) => serviceHistoryProblems(settings.serviceHistory),
  async testConnection(ctx, { settings, credentials }) {
    const client = new SalesforceClient(ctx, { credentials, timeoutMs: settings.timeoutMs ?? 4000 });
    try {
      await client.request({ method: 'GET', path: `/query?q=${encodeURIComponent('SELECT Id FROM Contact LIMIT 1')}`, op: 'test connection' });
      return { ok: true };
    } catch (e) {
      const category = isPluginError(e) ? e.category : 'unknown';
      const detail = category === 'auth' ? 'Salesforce refused the OAuth grant or session: reconnect Salesforce'
        : category === 'forbidden' ? 'the connected app user cannot read Contacts'
          : category === 'rate_limit' ? "the org's daily API limit is exhausted"
            : category === 'timeout' || category === 'connectivity' ? 'Salesforce unreachable at the login or instance URL'
              : `Salesforce answered with an error (${category})`;
      return { ok: false, detail };
    }
  },
  create: (ctx, config) => createSalesforceCrm(ctx, config),
});
