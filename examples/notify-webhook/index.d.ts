import type { PluginManifest } from '@servicelane/sdk';

/** Per-dealership settings of the webhook notifier (see README.md). */
export interface WebhookSettings {
  /** The dealership's endpoint; https in production (the platform's egress policy decides). */
  url: string;
  /** Per-delivery time budget, 1–30 s (default 10 s). */
  timeoutMs?: number;
}

/** The signing secret, Standard Webhooks format: `whsec_` + base64 of at least 24 random bytes. */
export interface WebhookCredentials {
  signingSecret: string;
}

declare const manifest: PluginManifest<'notify', WebhookSettings, WebhookCredentials>;
export default manifest;

/** `webhook-signature` value for one delivery (exported so a receiver's test can check its own verifier). */
export function sign(o: { secret: string; id: string; timestampSec: number; body: string }): string;
