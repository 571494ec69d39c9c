/**
 * `npm run bench -- media-frames [--frames 200000] [--rounds 5]`
 *
 * The outbound hot path of every speaking call: one Twilio `media` message per 20 ms frame. Sends `--frames`
 * 160-byte frames over a real loopback WebSocket (ws, as the media server uses it) two ways, interleaved over
 * `--rounds` rounds so machine noise falls on both alike:
 * - baseline: the envelope as a string per frame (`prefix + base64 + '"}}'`), the way a string goes to ws;
 * - encoder: core/telephony/media-frames.ts, the bytes built around an envelope encoded once, in a reused buffer.
 * Figures: CPU µs per frame (process CPU, sender and receiver in this process, so the receiver's equal share is
 * in both), p50/p99 over the rounds, and their ratio. CPU time, not wall time: the machine may be shared.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import { MediaFrameEncoder } from '../core/telephony/media-frames.js';
import { flag, r2, stats } from './lib/figures.js';

const FRAMES = Number(flag('frames', '200000'));
const ROUNDS = Number(flag('rounds', '5'));
const SID = 'MZ18ad3ab5a668481ce02b83e7395059f0';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
await new Promise<void>((r) => wss.once('listening', () => r()));
const serverSide = new Promise<WebSocket>((r) => wss.once('connection', (ws) => r(ws)));
const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
let received = 0;
client.on('message', () => { received++; });
const ws = await serverSide;
await new Promise<void>((r) => (client.readyState === WebSocket.OPEN ? r() : client.once('open', () => r())));

const frame = Buffer.alloc(160);
for (let i = 0; i < frame.length; i++) frame[i] = (i * 37) & 0xff;
const prefix = `{"event":"media","streamSid":${JSON.stringify(SID)},"media":{"payload":"`;
const encoder = new MediaFrameEncoder(SID);
const TEXT = { binary: false } as const;
const ways: Record<'baseline' | 'encoder', () => void> = {
  baseline: () => ws.send(prefix + frame.toString('base64') + '"}}'),
  encoder: () => ws.send(encoder.encode(frame, ws.bufferedAmount === 0), TEXT),
};

/** Sends in bursts of 50 (a second of one call), letting the socket drain between bursts as the pacer would. */
async function round(send: () => void): Promise<number> {
  const target = received + FRAMES;
  const c0 = process.cpuUsage();
  for (let sent = 0; sent < FRAMES; sent += 50) {
    for (let i = 0; i < 50; i++) send();
    if (ws.bufferedAmount > 64 * 1024) await new Promise<void>((r) => setImmediate(r));
  }
  while (received < target) await new Promise<void>((r) => setImmediate(r));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / FRAMES;
}

const us: Record<'baseline' | 'encoder', number[]> = { baseline: [], encoder: [] };
await round(ways.encoder); // warm-up, both paths compiled before measuring
await round(ways.baseline);
for (let i = 0; i < ROUNDS; i++) {
  for (const k of (i % 2 ? ['encoder', 'baseline'] : ['baseline', 'encoder']) as Array<'baseline' | 'encoder'>) us[k].push(await round(ways[k]));
}
client.close();
await new Promise<void>((r) => wss.close(() => r()));
const b = stats(us.baseline);
const e = stats(us.encoder);
process.stdout.write(`${JSON.stringify({ bench: 'media-frames', frames: FRAMES, rounds: ROUNDS, cpuUsPerFrame: { baseline: b, encoder: e }, ratioP50: r2(e.p50 / b.p50) })}\n`);
process.exit(0);
