import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import { describeConformance, expectRejection, faultScenarios } from './common.js';
import type { ConformanceHarness } from './harness.js';

/** Fixtures for {@link describeTelephonyProvider}: numbers the (fake) account knows. */
export interface TelephonyFixtures {
  /** A number the account owns, used as caller id and for configureNumber. */
  from: string;
  to: string;
  transferTo: string;
  publicBaseUrl: string;
  /**
   * The vendor's record of one call (the harness reads it off its fake): its status and where its last
   * redirect dialled. Without it transfer and hang-up can only be checked for not throwing, and those
   * scenarios are reported as pending.
   */
  vendorCall?: (callId: string) => TelephonyVendorCall | undefined;
}

/** What a fake telephony vendor knows about one call. */
export interface TelephonyVendorCall {
  /** The vendor's call status, e.g. `queued`, `in-progress`, `completed`. */
  status: string;
  /** The number the call was last redirected to dial, when it was transferred. */
  dialledTo?: string;
  /** Call-control requests (transfers, hang-ups) the vendor received for this call. */
  updates: number;
}

/**
 * The telephony provider contract: `placeCall` returns a call id; `findCalls` lists it; `transfer`, `hangUp` and
 * `sayAndHangUp` act on it, `hangUp` and `sayAndHangUp` harmlessly on an ended call; `configureNumber` answers `{ configured }` with a reason when it can't; an aborted
 * signal rejects; vendor failures surface as PluginError categories.
 */
export function describeTelephonyProvider<S, C>(manifest: PluginManifest<'telephony', S, C> | AnyPluginManifest, harness: ConformanceHarness<TelephonyFixtures>): void {
  describeConformance({
    kind: 'telephony',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { from: '+14085550100', to: '+14085550123', transferTo: '+14085550177', publicBaseUrl: 'https://servicelane.test' },
    scenarios: (state) => {
      let callSid: string | undefined;
      const placed = () => callSid ?? assert.fail('placeCall did not succeed earlier in this suite');
      const place = (signal?: AbortSignal) => {
        const f = state().fixtures;
        return state().instance.placeCall({
          to: f.to, from: f.from, twiml: '<Response><Say>Conformance</Say></Response>',
          statusCallbackUrl: `${f.publicBaseUrl}/twilio/status`, signal,
        });
      };

      it('places a call and returns its id', async () => {
        const r = await place();
        assert.equal(typeof r.callSid, 'string');
        assert.ok(r.callSid.length > 0);
        callSid = r.callSid;
      });

      it('transfers the live call: the vendor redirects that call to the transfer number', async function () {
        const f = state().fixtures;
        await state().instance.transfer({ callSid: placed(), to: f.transferTo });
        if (!f.vendorCall) { this.skip(); return; }
        const call = f.vendorCall(placed());
        assert.ok(call, 'the vendor knows the call');
        assert.equal(call.dialledTo, f.transferTo, 'the call was redirected to dial the transfer number');
        assert.notEqual(call.status, 'completed', 'a transfer does not end the call');
      });

      it('hangs up, and hanging up again is harmless', async function () {
        const f = state().fixtures;
        await state().instance.hangUp({ callSid: placed() });
        const after1 = f.vendorCall?.(placed());
        await state().instance.hangUp({ callSid: placed() });
        if (!f.vendorCall) { this.skip(); return; }
        assert.equal(after1?.status, 'completed', 'the vendor ended the call');
        assert.equal(f.vendorCall(placed())?.status, 'completed', 'the second hang-up left it ended');
      });

      it('finds the placed call among the calls from its number to its callee since just before it', async () => {
        const f = state().fixtures;
        const since = new Date(Date.now() - 60_000);
        const found = await state().instance.findCalls({ to: f.to, from: f.from, createdAfter: since });
        const mine = found.find((c) => c.callSid === placed());
        assert.ok(mine, 'the placed call is listed');
        assert.equal(mine.to, f.to);
        assert.equal(mine.from, f.from);
        assert.ok(mine.createdAt instanceof Date && mine.createdAt.getTime() >= since.getTime());
        const later = await state().instance.findCalls({ to: f.to, from: f.from, createdAfter: new Date(Date.now() + 3_600_000) });
        assert.ok(!later.some((c) => c.callSid === placed()), 'a call created before createdAfter is not listed');
      });

      it('says a message on a live call and hangs up; saying it on an ended call is harmless', async function () {
        const f = state().fixtures;
        const { callSid: sid } = await state().instance.placeCall({
          to: f.to, from: f.from, url: `${f.publicBaseUrl}/twilio/voice`, statusCallbackUrl: `${f.publicBaseUrl}/twilio/status`,
        });
        await state().instance.sayAndHangUp({ callSid: sid, text: 'This is a reminder from the conformance suite.' });
        await state().instance.sayAndHangUp({ callSid: sid, text: 'Again.' });
        if (!f.vendorCall) { this.skip(); return; }
        assert.equal(f.vendorCall(sid)?.status, 'completed', 'the vendor ended the call after the message');
      });

      it('configures an owned number, answering configured with a reason when it cannot', async () => {
        const f = state().fixtures;
        const r = await state().instance.configureNumber({ e164: f.from, voiceUrl: `${f.publicBaseUrl}/twilio/voice`, statusCallbackUrl: `${f.publicBaseUrl}/twilio/status` });
        assert.equal(typeof r.configured, 'boolean');
        if (!r.configured) assert.ok(r.reason, 'a reason when not configured');
      });

      it('rejects a call whose signal is already aborted', async () => {
        await expectRejection(place(AbortSignal.abort()), 'placeCall with an aborted signal');
      });

      faultScenarios(state, 'placeCall', (_t, signal) => place(signal));
    },
  });
}
