import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import { assertNoPiiInLogs, describeConformance, expectRejection, faultScenarios } from './common.js';
import type { ConformanceHarness } from './harness.js';

/** Fixtures for {@link describeNotifyProvider}. */
export interface NotifyFixtures { to: string }

/**
 * The notify provider contract: `send` returns a message id; an aborted signal rejects; vendor failures
 * surface as PluginError categories; recipients stay out of log text.
 */
export function describeNotifyProvider<S, C>(manifest: PluginManifest<'notify', S, C> | AnyPluginManifest, harness: ConformanceHarness<NotifyFixtures>): void {
  describeConformance({
    kind: 'notify',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { to: 'service.advisor@example.com' },
    scenarios: (state) => {
      const msg = { subject: 'Callback requested', text: 'A caller asked for a callback about a brake inspection.' };

      it('sends a message and returns its id', async () => {
        const r = await state().instance.send({ to: state().fixtures.to, ...msg });
        assert.equal(typeof r.messageId, 'string');
        assert.ok(r.messageId.length > 0);
      });

      it('rejects a call whose signal is already aborted', async () => {
        await expectRejection(state().instance.send({ to: state().fixtures.to, ...msg, signal: AbortSignal.abort() }), 'send with an aborted signal');
      });

      faultScenarios(state, 'send', (n, signal) => n.send({ to: state().fixtures.to, ...msg, signal }));

      it('keeps recipients out of log text (only under "pii")', () => {
        assertNoPiiInLogs(state().ctx.logs, [state().fixtures.to]);
      });
    },
  });
}
