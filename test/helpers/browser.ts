// Headless Chromium for the console's browser tests: the OS package (CHROMIUM_PATH or /usr/bin/chromium)
// driven by playwright-core, axe-core injected into every page checked, screenshots under test-artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const ARTIFACTS = path.resolve('test-artifacts', 'console');
const require = createRequire(import.meta.url);
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** The browser binary; a missing one fails the suite with a clear message (never a silent skip). */
export function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!fs.existsSync(p)) {
    throw new Error(`Chromium not found at ${p}: the console's browser tests need it (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  }
  return p;
}

/** A 16-bit mono PCM WAV: `segments` of tone (hz > 0) or silence, for Chromium's fake microphone (it loops). */
export function writeWav(file: string, segments: { ms: number; hz: number }[], sampleRate = 48_000): void {
  const total = segments.reduce((n, s) => n + Math.round((s.ms / 1000) * sampleRate), 0);
  const buf = Buffer.alloc(44 + total * 2);
  buf.write('RIFF', 0); buf.writeUInt32LE(36 + total * 2, 4); buf.write('WAVE', 8); buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22); buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * 2, 28); buf.writeUInt16LE(2, 32); buf.writeUInt16LE(16, 34); buf.write('data', 36); buf.writeUInt32LE(total * 2, 40);
  let i = 0;
  for (const s of segments) {
    const n = Math.round((s.ms / 1000) * sampleRate);
    for (let k = 0; k < n; k++, i++) buf.writeInt16LE(s.hz > 0 ? Math.round(14_000 * Math.sin((2 * Math.PI * s.hz * k) / sampleRate)) : 0, 44 + i * 2);
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buf);
}

export function launchChromium(o: { fakeAudioWav?: string } = {}): Promise<Browser> {
  const args = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required', '--no-sandbox'];
  if (o.fakeAudioWav) args.push(`--use-file-for-fake-audio-capture=${o.fakeAudioWav}`);
  return chromium.launch({ executablePath: chromiumPath(), args });
}

/** axe-core on the page as it is now: no serious or critical violation; then a full-page screenshot. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    // Runs in the page (no DOM types in this tsconfig): the global axe and document are the page's.
    const g = globalThis as unknown as { document: unknown; axe: { run: (ctx: unknown, o: unknown) => Promise<{ violations: { id: string; impact: string; nodes: { target: unknown }[] }[] }> } };
    const r = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)) }));
  });
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `axe-core on ${name}: serious/critical violations`);
}
