/**
 * The ServiceLane plugin SDK: the only module plugins import. See docs/plugins.md.
 * @packageDocumentation
 */
export * from './define-plugin.js';
export * from './errors.js';
export { normalizeVin, vinCheckDigit, isValidVin } from './vin.js';
export { checkManifest, missingMethods, REQUIRED_METHODS, PLUGIN_ID_PATTERN } from './manifest-check.js';
export { parseIsoInstant } from './time.js';
export { closeWithGrace } from './socket.js';
//# sourceMappingURL=index.js.map