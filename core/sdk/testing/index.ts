/**
 * Conformance suites for plugin authors (mocha). Each `describe*` registers a `describe` block that checks the
 * manifest, creates the plugin through a harness (a fake vendor or a tenant database) and runs its kind's
 * contract scenarios. See docs/plugins.md.
 * @packageDocumentation
 */
export { createTestContext, createMemoryStore, type TestContext, type TestContextOptions, type LoggedLine } from './context.js';
export { FAULT_EXPECTATIONS, type ConformanceHarness, type HarnessSetup, type FaultHooks, type VendorFault } from './harness.js';
export { assertDto, assertNoPiiInLogs, expectPluginError, validatorFor, describeConformance, faultScenarios, type SuiteState } from './common.js';
export { customerSchema, vehicleSchema, serviceRecordSchema, busyIntervalSchema, vehicleInfoSchema, E164_PATTERN } from './schemas.js';
export { describeCrmConnector, type CrmFixtures } from './crm.js';
export { describeCalendarProvider, type CalendarFixtures } from './calendar.js';
export { describeVehicleDecoder, type VehicleFixtures } from './vehicle.js';
export { describeLlmProvider, type LlmFixtures, type LlmVendorRequest } from './llm.js';
export { describeSttProvider, type SttFixtures } from './stt.js';
export { describeTtsProvider, type TtsFixtures } from './tts.js';
export { describeTelephonyProvider, type TelephonyFixtures, type TelephonyVendorCall } from './telephony.js';
export { describeNotifyProvider, type NotifyFixtures } from './notify.js';
