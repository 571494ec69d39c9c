import type { AppConfig } from '../config.js';

/**
 * What the platform operator supplies to one plugin: endpoint overrides (merged under the tenant's settings)
 * and the platform's own keys (used when the tenant slot has no `credentialsRef`).
 */
export interface PluginPlatformDefaults {
  /** Non-secret settings, e.g. `{ baseUrl }` from OPENAI_BASE_URL; the URL overrides that let tests reach fakes. */
  settings?: Record<string, unknown>;
  /**
   * The platform's credentials for this plugin, e.g. `{ apiKey }` from OPENAI_API_KEY. Declared even when the
   * variables are unset, so a slot without a credentialsRef is accepted on save and reported "unconfigured:
   * missing credential apiKey" until the operator sets the key.
   */
  credentials?: Record<string, unknown>;
}

/** Plugin id → what the platform gives that plugin, and that plugin only. */
export type PlatformDefaults = Readonly<Record<string, PluginPlatformDefaults>>;

/** Drops unset values, so an unset variable reads as an absent field (and fails a `required`), not `undefined`. */
function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== ''));
}

/**
 * The per-plugin platform defaults, from the validated config (DESIGN §4 env contract). This replaces the old
 * `ctx.env`, which handed every plugin — third-party packages included — every platform secret: here each
 * provider key goes to the one plugin that uses it, and the JWT secret, CREDENTIALS_KEY and the like go to none.
 */
export function platformDefaults(cfg: AppConfig): PlatformDefaults {
  return Object.freeze({
    'llm-openai': { settings: { baseUrl: cfg.openai.baseUrl }, credentials: defined({ apiKey: cfg.openai.apiKey }) },
    'stt-deepgram': { settings: { baseUrl: cfg.deepgram.baseUrl }, credentials: defined({ apiKey: cfg.deepgram.apiKey }) },
    'tts-deepgram': { settings: { baseUrl: cfg.deepgram.baseUrl }, credentials: defined({ apiKey: cfg.deepgram.apiKey }) },
    'telephony-twilio': {
      settings: { apiBaseUrl: cfg.twilio.apiBaseUrl },
      credentials: defined({ accountSid: cfg.twilio.accountSid, authToken: cfg.twilio.authToken }),
    },
    // The dealership authorises its own Google account (clientId, clientSecret, refreshToken are the tenant's).
    'calendar-google': { settings: { apiRootUrl: cfg.google.apiRootUrl, tokenUrl: cfg.google.tokenUrl } },
    'vehicle-nhtsa': { settings: { baseUrl: cfg.nhtsaBaseUrl } },
  });
}
