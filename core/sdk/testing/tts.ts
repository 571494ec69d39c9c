import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import type { TtsProvider, TtsSession } from '../contracts/voice.js';
import { describeConformance, expectRejection, faultScenarios, waitFor } from './common.js';
import type { ConformanceHarness } from './harness.js';

/** Fixtures for {@link describeTtsProvider}. */
export interface TtsFixtures {
  text: string;
  voice?: string;
}

const FORMAT = { encoding: 'mulaw', sampleRateHz: 8000 } as const;

function openOrFail(tts: TtsProvider, signal: AbortSignal | undefined, sessions: TtsSession[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tts.open({ ...FORMAT, signal, onAudio: () => undefined, onFlushed: () => resolve(), onError: reject }).then((s) => {
      sessions.push(s);
      s.speak('Checking the vendor.');
      s.flush();
    }, reject);
  });
}

/**
 * The TTS provider contract: `synthesize` returns raw μ-law (no container); a session turns `speak` + `flush`
 * into audio chunks followed by `onFlushed(sequence)` with increasing sequence numbers; `clear()` and a
 * repeated `close()` are safe; an aborted signal rejects; vendor failures surface as PluginError categories.
 */
export function describeTtsProvider<S, C>(manifest: PluginManifest<'tts', S, C> | AnyPluginManifest, harness: ConformanceHarness<TtsFixtures>): void {
  describeConformance({
    kind: 'tts',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { text: 'Your car is ready for pickup.' },
    scenarios: (state) => {
      const sessions: TtsSession[] = [];
      after(async () => { await Promise.allSettled(sessions.map((s) => s.close())); });

      it('synthesizes one line to raw μ-law audio', async () => {
        const { instance, fixtures } = state();
        const audio = await instance.synthesize({ ...FORMAT, text: fixtures.text, ...(fixtures.voice ? { voice: fixtures.voice } : {}) });
        assert.ok(Buffer.isBuffer(audio) && audio.length > 0, 'audio bytes arrived');
        assert.notEqual(audio.subarray(0, 4).toString('latin1'), 'RIFF', 'no WAV container');
      });

      it('streams clause audio and reports each flush with an increasing sequence', async () => {
        const { instance, fixtures } = state();
        const flushed: number[] = [];
        let bytes = 0;
        const errors: Error[] = [];
        const s = await instance.open({ ...FORMAT, ...(fixtures.voice ? { voice: fixtures.voice } : {}), onAudio: (c) => { bytes += c.length; }, onFlushed: (n) => flushed.push(n), onError: (e) => errors.push(e) });
        sessions.push(s);
        s.speak(fixtures.text);
        const a = s.flush();
        await waitFor(() => flushed.includes(a) || errors.length > 0, { timeoutMs: 10_000, what: `onFlushed(${a})` });
        assert.deepEqual(errors, []);
        assert.ok(bytes > 0, 'audio arrived before the flush completed');
        s.speak('One more clause.');
        const b = s.flush();
        assert.ok(b > a, 'sequence numbers increase');
        await waitFor(() => flushed.includes(b), { timeoutMs: 10_000, what: `onFlushed(${b})` });
        s.clear();
        await s.close();
        await s.close();
      });

      it('rejects synthesis when the signal is already aborted', async () => {
        await expectRejection(state().instance.synthesize({ ...FORMAT, text: 'x', signal: AbortSignal.abort() }), 'synthesize with an aborted signal');
      });

      faultScenarios(state, 'open', (tts, signal) => openOrFail(tts, signal, sessions));
    },
  });
}
