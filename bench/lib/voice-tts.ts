/**
 * Which TTS plugin the voice bench speaks with (`npm run bench -- voice --tts deepgram|elevenlabs|both`).
 *
 * Both fakes get the same injected first-byte delay (--tts-delay), the same audio per character and the same
 * pacing (1600-byte chunks every 10 ms, the Deepgram fake's defaults), so the two runs differ only in the plugin
 * and its wire protocol: Deepgram's speak WebSocket (Speak/Flush/Clear) against ElevenLabs' multi-context input
 * WebSocket (a context per turn, flush per clause, close_context on barge-in).
 */
import { fork } from 'node:child_process';
import type { Platform } from '../../core/app.js';

export type TtsChoice = 'deepgram' | 'elevenlabs';
export const TTS_CHOICES: readonly string[] = ['deepgram', 'elevenlabs', 'both'];
const ELEVENLABS_KEY = 'el-bench-key-0001';

/** The TTS fake a run needs besides the Deepgram one (which also serves STT): ElevenLabs' when selected. */
export async function startTtsFake(o: { tts: string; ttsDelayMs: number; msPerChar: number }): Promise<{ url: string; openSessions(): number; close(): Promise<void> } | null> {
  if (o.tts !== 'elevenlabs') return null;
  const { startFakeElevenLabs } = await import('../../test/fakes/elevenlabs.js');
  const el = await startFakeElevenLabs({ apiKey: ELEVENLABS_KEY, msPerChar: o.msPerChar, firstByteDelayMs: o.ttsDelayMs, chunkBytes: 1600, chunkIntervalMs: 10 });
  return { url: el.url, openSessions: () => el.sessions.filter((s) => s.open).length, close: () => el.close() };
}

/** Points the bench tenant's tts slot at the selected plugin (tts-deepgram is the demo config's own). */
export async function selectTts(o: { p: Platform; tenantId: string; tts: string; url?: string }): Promise<void> {
  if (o.tts !== 'elevenlabs') return;
  if (!o.url) throw new TypeError('the ElevenLabs fake did not report its URL'); // bench wiring, never a user's input
  const tenant = await o.p.tenants.get(o.tenantId);
  const raw = tenant.rawConfig as { plugins: Record<string, unknown> };
  await o.p.tenants.putCredential(o.tenantId, 'bench-elevenlabs', { apiKey: ELEVENLABS_KEY });
  await o.p.tenants.updateConfig(o.tenantId, { ...raw, plugins: { ...raw.plugins, tts: { plugin: 'tts-elevenlabs', settings: { baseUrl: o.url }, credentialsRef: 'bench-elevenlabs' } } });
  // A slot that did not take would silently bench Deepgram under the ElevenLabs label.
  const slot = (await o.p.registry.status(o.tenantId)).find((x) => x.slot === 'tts');
  if (slot?.pluginId !== 'tts-elevenlabs' || slot.state !== 'ok') throw new Error(`tts slot is ${JSON.stringify(slot)}, not a working tts-elevenlabs`); // bench-only
}

/**
 * `--tts both`: the whole bench once per plugin, one after the other in child processes with the same flags, then
 * one JSON with each run's figures and the caller-perceived ones side by side. Sequential, so the two runs share the
 * machine's load only as far as it stays the same between them.
 */
export async function compareTts(o: { self: string; argv: string[]; say: (s: string) => void }): Promise<void> {
  const runs: Partial<Record<TtsChoice, Record<string, unknown>>> = {};
  for (const tts of ['deepgram', 'elevenlabs'] as const) {
    const args = [...o.argv.filter((a, i, all) => a !== '--tts' && all[i - 1] !== '--tts'), '--tts', tts];
    const child = fork(o.self, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n').filter(Boolean)) if (!line.startsWith('{')) o.say(`[${tts}] ${line}`);
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const last = out.trim().split('\n').at(-1) ?? '';
    if (code !== 0 || !last.startsWith('{')) throw new Error(`voice bench with --tts ${tts} exited ${code} without its JSON line`); // bench-only
    runs[tts] = JSON.parse(last) as Record<string, unknown>;
  }
  const pick = (k: string) => ({ deepgram: runs.deepgram?.[k] ?? null, elevenlabs: runs.elevenlabs?.[k] ?? null });
  o.say(JSON.stringify({
    bench: 'voice', tts: 'both',
    sideBySide: {
      callerTurnMs: pick('callerTurnMs'), excessOverFloorMs: pick('excessOverFloorMs'), greetingFirstAudioMs: pick('greetingFirstAudioMs'),
      playbackGaps: pick('playbackGaps'), bargeIn: pick('bargeIn'), cpuSecPerCall: pick('cpuSecPerCall'), completed: pick('completed'), failed: pick('failed'),
    },
    deepgram: runs.deepgram, elevenlabs: runs.elevenlabs,
  }));
}
