import type { AnyPluginManifest, PluginKind } from '../../core/sdk/index.js';
import {
  describeCalendarProvider, describeCrmConnector, describeLlmProvider, describeNotifyProvider, describeSttProvider,
  describeTelephonyProvider, describeTtsProvider, describeVehicleDecoder, type ConformanceHarness,
} from '../../core/sdk/testing/index.js';

// Fixture types differ per kind; a harness is used with its own kind's suite only.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyHarness = ConformanceHarness<any>;

const SUITES: Record<PluginKind, (m: AnyPluginManifest, h: AnyHarness) => void> = {
  crm: describeCrmConnector,
  calendar: describeCalendarProvider,
  vehicle: describeVehicleDecoder,
  llm: describeLlmProvider,
  stt: describeSttProvider,
  tts: describeTtsProvider,
  telephony: describeTelephonyProvider,
  notify: describeNotifyProvider,
};

/**
 * Registers the conformance suite of `manifest`'s kind for one plugin, wherever the manifest came from:
 * plugins/index.ts (test/conformance/plugins.test.ts) or a package loaded through PLUGIN_PACKAGES
 * (test/conformance/plugin-package.test.ts).
 */
export function describePluginConformance(manifest: AnyPluginManifest, harness: AnyHarness): void {
  SUITES[manifest.kind](manifest, harness);
}
