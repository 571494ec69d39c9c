import type { PluginKinds } from '../sdk/index.js';
import type { ErrorCode } from '../errors.js';
import type { SlotName } from '../tenancy/config.js';

/** Slot → the instance interface it holds. `vehicle` and `notify` slots are optional per tenant. */
export type SlotKinds = { [S in SlotName]: PluginKinds[S] };

/** A slot as the admin API shows it (`GET /admin/v1/tenants/:id/plugins`); persisted in platform.plugin_status. */
export interface SlotStatus {
  slot: SlotName;
  pluginId: string | null;
  state: 'ok' | 'disabled' | 'unconfigured';
  error?: { code: string; message: string; details?: unknown };
  /** The slot's plugin works but its account link needs a person (Google refused the grant: connect again). */
  needsReconnect?: boolean;
}

/**
 * One problem `validateConfig` found. `details.path` is the JSON pointer into the tenant config
 * (`/plugins/crm/settings/baseUrl`); ajv's own `instancePath` (relative to the settings) is kept too.
 */
export interface PluginConfigIssue {
  slot: SlotName;
  code: ErrorCode;
  message: string;
  details: { path: string; pluginId?: string; instancePath?: string; keyword?: string; params?: unknown; capability?: string; [k: string]: unknown };
}

/** A manifest the registry refused at load; boot continues without it. */
export interface PluginLoadError {
  /** `first-party` or `package:<name>`. */
  source: string;
  pluginId?: string;
  code: 'PLG_ERR_SHAPE' | 'PLG_ERR_API_VERSION' | 'PLG_ERR_DUPLICATE_ID';
  message: string;
  details?: unknown;
}

/** What `testConnection` answers; never throws for a configured slot. */
export interface TestConnectionResult {
  slot: SlotName;
  pluginId: string;
  ok: boolean;
  detail?: string;
  error?: { code: string; message: string; details?: unknown };
  latencyMs: number;
}

/** A registered plugin, as the admin API lists it. */
export interface PluginSummary {
  id: string;
  kind: SlotName;
  version: string;
  apiVersion: number;
  description?: string;
  capabilities: Readonly<Record<string, unknown>>;
  source: string;
  needsCredentials: boolean;
}
