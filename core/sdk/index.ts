/**
 * The ServiceLane plugin SDK: the only module plugins import. See docs/plugins.md.
 * @packageDocumentation
 */
export * from './define-plugin.js';
export * from './errors.js';
export type * from './contracts/common.js';
export type * from './contracts/crm.js';
export type * from './contracts/calendar.js';
export type * from './contracts/voice.js';
export type * from './contracts/tenant-data.js';
export { EgressRefusedError, EGRESS_REFUSED_CODE, findEgressRefusal } from './egress.js';
export { normalizeVin, vinCheckDigit, isValidVin, type VinCheck } from './vin.js';
export { checkManifest, missingMethods, REQUIRED_METHODS, PLUGIN_ID_PATTERN, type ManifestProblem } from './manifest-check.js';
export { parseIsoInstant } from './time.js';
export { E164_PATTERN, E164_RE, isE164 } from './phone.js';
export { closeWithGrace } from './socket.js';
