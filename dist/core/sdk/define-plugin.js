/** The contract version per kind that this core speaks. A manifest with another value is refused (PLG_ERR_API_VERSION). */
export const API_VERSION = 1;
/** Every plugin kind, in the order the admin API lists slots. */
export const PLUGIN_KINDS = ['crm', 'calendar', 'stt', 'llm', 'tts', 'telephony', 'notify', 'vehicle'];
/**
 * Identity helper that gives a manifest literal its types: `S` and `C` tie `settingsSchema` and
 * `credentialsSchema` (ajv `JSONSchemaType`) to what `create` receives, so schema and type can't drift.
 *
 * @example
 * ```ts
 * interface Settings { pageSize?: number }
 * interface Credentials { apiKey: string; baseUrl: string }
 * export default definePlugin<'crm', Settings, Credentials>({ id: 'crm-acme', kind: 'crm', … });
 * ```
 */
export function definePlugin(m) {
    return m;
}
//# sourceMappingURL=define-plugin.js.map