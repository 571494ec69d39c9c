import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import type { SttProvider, SttSession, TranscriptEvent } from '../contracts/voice.js';
import { describeConformance, expectRejection, faultScenarios, waitFor } from './common.js';
import type { ConformanceHarness } from './harness.js';

/** Fixtures for {@link describeSttProvider}: μ-law 8 kHz speech and what the (fake) vendor transcribes it as. */
export interface SttFixtures {
  audio: Uint8Array;
  expectTranscript: string;
  /** How long to wait for the final transcript (default 10 s). */
  finalTimeoutMs: number;
  /** For plugins with `transcribe` (capability `prerecorded`): a recording and what the vendor transcribes it as. */
  prerecorded?: { audio: Uint8Array; contentType: string; expectTranscript: string };
}

const FORMAT = { encoding: 'mulaw', sampleRateHz: 8000 } as const;

/**
 * Opens a session and resolves once it is usable, or rejects with the failure however the plugin reports it
 * (a rejected `open`, or a `closed` event carrying an error).
 */
function openOrFail(stt: SttProvider, signal: AbortSignal | undefined, sessions: SttSession[], audio: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    stt.open({ ...FORMAT, signal, onEvent: (e) => { if (e.type === 'closed' && e.error) reject(e.error); } }).then((s) => {
      sessions.push(s);
      for (let i = 0; i < audio.length; i += 160) s.push(audio.subarray(i, i + 160));
      s.finalize();
      // A vendor that refuses asynchronously reports it as a closed event; give it a moment to arrive.
      setTimeout(resolve, 1000);
    }, reject);
  });
}

/**
 * The STT provider contract: a session takes μ-law frames, `finalize()` flushes, a `final` event carries the
 * transcript, `close()` is idempotent; an aborted signal refuses to open; vendor failures surface as
 * PluginError categories (from `open` or as the `closed` event's error).
 */
export function describeSttProvider<S, C>(manifest: PluginManifest<'stt', S, C> | AnyPluginManifest, harness: ConformanceHarness<SttFixtures>): void {
  describeConformance({
    kind: 'stt',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { audio: new Uint8Array(0), expectTranscript: '', finalTimeoutMs: 10_000 },
    scenarios: (state) => {
      const sessions: SttSession[] = [];
      after(async () => { await Promise.allSettled(sessions.map((s) => s.close())); });

      it('transcribes pushed audio into a final event and closes idempotently', async () => {
        const { instance, fixtures } = state();
        assert.ok(fixtures.audio.length > 0 && fixtures.expectTranscript, 'the harness supplies audio and its transcript');
        const events: TranscriptEvent[] = [];
        const s = await instance.open({ ...FORMAT, onEvent: (e) => events.push(e) });
        sessions.push(s);
        for (let i = 0; i < fixtures.audio.length; i += 160) s.push(fixtures.audio.subarray(i, i + 160));
        s.finalize();
        const want = fixtures.expectTranscript.toLowerCase();
        await waitFor(() => events.some((e) => e.type === 'final' && e.text.toLowerCase().includes(want)), { timeoutMs: fixtures.finalTimeoutMs, what: `a final transcript containing "${fixtures.expectTranscript}"` });
        for (const e of events) assert.ok(['speech_started', 'interim', 'final', 'utterance_end', 'closed'].includes(e.type), `unknown event ${e.type}`);
        await s.close();
        await s.close();
        assert.ok(events.filter((e) => e.type === 'closed').length <= 1, 'closed is reported at most once');
      });

      it('transcribes a whole recording when it declares the prerecorded capability', async function () {
        const { instance, fixtures } = state();
        const declared = (manifest as AnyPluginManifest).capabilities?.prerecorded === true;
        if (!instance.transcribe) {
          assert.ok(!declared, 'declares prerecorded but has no transcribe()');
          this.skip();
          return;
        }
        assert.ok(fixtures.prerecorded, 'the harness supplies a recording for transcribe()');
        const r = await instance.transcribe({ audio: fixtures.prerecorded.audio, contentType: fixtures.prerecorded.contentType });
        assert.equal(typeof r.text, 'string');
        assert.ok(r.text.toLowerCase().includes(fixtures.prerecorded.expectTranscript.toLowerCase()), `transcript "${r.text}"`);
        await expectRejection(instance.transcribe({ audio: fixtures.prerecorded.audio, contentType: fixtures.prerecorded.contentType, signal: AbortSignal.abort() }), 'transcribe with an aborted signal');
      });

      it('refuses to open when the signal is already aborted', async () => {
        await expectRejection(state().instance.open({ ...FORMAT, signal: AbortSignal.abort(), onEvent: () => undefined }).then((s) => { sessions.push(s); }), 'open with an aborted signal');
      });

      faultScenarios(state, 'open', (stt, signal) => openOrFail(stt, signal, sessions, state().fixtures.audio));
    },
  });
}
