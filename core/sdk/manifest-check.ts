import { API_VERSION, PLUGIN_KINDS, type PluginKind } from './define-plugin.js';

/** A plugin id: `<kind>-<vendor>`, lower-case kebab-case (`crm-twenty`, `calendar-google`). */
export const PLUGIN_ID_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)+$/;

/**
 * One reason a value is not a loadable manifest. `code` is the core error code the registry reports it under:
 * `PLG_ERR_SHAPE` for a malformed object, `PLG_ERR_API_VERSION` for a contract version core does not speak.
 */
export interface ManifestProblem {
  code: 'PLG_ERR_SHAPE' | 'PLG_ERR_API_VERSION';
  /** The manifest field at fault, e.g. `/id`, `/create`. */
  path: string;
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks that `m` is a manifest this core can load: the shape first, then `apiVersion`. Returns every problem
 * (empty = loadable). The registry runs exactly this check; run it in a plugin's own unit test to fail early.
 *
 * @remarks Schemas are only checked to be objects here; the registry then compiles `settingsSchema` and
 * `credentialsSchema` with ajv and reports a schema that does not compile as `PLG_ERR_SHAPE` too.
 *
 * @example
 * ```ts
 * import manifest from './index.js';
 * assert.deepEqual(checkManifest(manifest), []);
 * ```
 */
export function checkManifest(m: unknown): ManifestProblem[] {
  const out: ManifestProblem[] = [];
  const shape = (path: string, message: string) => out.push({ code: 'PLG_ERR_SHAPE', path, message });
  if (!isObject(m)) {
    shape('/', 'a plugin module must default-export a manifest object (use definePlugin)');
    return out;
  }
  const kind = m.kind;
  if (typeof kind !== 'string' || !(PLUGIN_KINDS as readonly string[]).includes(kind)) {
    shape('/kind', `kind must be one of ${PLUGIN_KINDS.join(', ')}`);
  }
  if (typeof m.id !== 'string' || !PLUGIN_ID_PATTERN.test(m.id)) shape('/id', 'id must be kebab-case <kind>-<vendor>');
  else if (typeof kind === 'string' && !m.id.startsWith(`${kind as PluginKind}-`)) shape('/id', `id must start with "${String(kind)}-"`);
  if (typeof m.version !== 'string' || m.version.length === 0) shape('/version', 'version must be the plugin\'s semver string');
  if (typeof m.apiVersion !== 'number' || !Number.isInteger(m.apiVersion)) shape('/apiVersion', 'apiVersion must be an integer (use API_VERSION)');
  if (!isObject(m.settingsSchema)) shape('/settingsSchema', 'settingsSchema must be a JSON Schema object');
  if (m.credentialsSchema !== undefined && m.credentialsSchema !== null && !isObject(m.credentialsSchema)) {
    shape('/credentialsSchema', 'credentialsSchema must be a JSON Schema object or null');
  }
  if (!isObject(m.capabilities)) shape('/capabilities', 'capabilities must be an object (may be empty)');
  if (typeof m.create !== 'function') shape('/create', 'create(ctx, config) must be a function');
  for (const fn of ['validate', 'testConnection'] as const) {
    if (m[fn] !== undefined && typeof m[fn] !== 'function') shape(`/${fn}`, `${fn} must be a function when present`);
  }
  if (out.length) return out;
  if (m.apiVersion !== API_VERSION) {
    out.push({ code: 'PLG_ERR_API_VERSION', path: '/apiVersion', message: `apiVersion ${String(m.apiVersion)} is not supported; this core speaks ${API_VERSION}` });
  }
  return out;
}

/**
 * The methods an instance of each kind must have. The registry refuses an instance missing one
 * (PLG_ERR_SHAPE) and the conformance suites check it first.
 */
export const REQUIRED_METHODS: Readonly<Record<PluginKind, readonly string[]>> = {
  crm: ['findCustomers', 'getCustomer', 'createCustomer', 'listVehicles', 'addVehicle', 'getServiceHistory', 'logInteraction'],
  calendar: ['getBusy', 'createAppointment', 'updateAppointment', 'cancelAppointment'],
  stt: ['open'],
  llm: ['generate'],
  tts: ['open', 'synthesize'],
  telephony: ['hangUp', 'transfer', 'placeCall', 'configureNumber', 'findCalls', 'sayAndHangUp'],
  notify: ['send'],
  vehicle: ['decodeVin'],
};

/** Names of the {@link REQUIRED_METHODS} of `kind` that `instance` lacks (empty = complete). */
export function missingMethods(kind: PluginKind, instance: unknown): string[] {
  if (typeof instance !== 'object' || instance === null) return [...REQUIRED_METHODS[kind]];
  return REQUIRED_METHODS[kind].filter((m) => typeof (instance as Record<string, unknown>)[m] !== 'function');
}
