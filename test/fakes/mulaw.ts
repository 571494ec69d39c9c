// G.711 μ-law (8 kHz, 8-bit) helpers for the voice fakes. Telephony audio in ServiceLane is μ-law
// end to end, so fakes build and inspect it directly instead of carrying PCM around.

/** μ-law bytes per millisecond at 8 kHz. */
export const BYTES_PER_MS = 8;
/** One Twilio Media Streams frame: 20 ms. */
export const FRAME_BYTES = 160;
/** The μ-law byte for digital silence (decodes to 0). */
export const SILENCE_BYTE = 0xff;

const BIAS = 0x84;
const CLIP = 32635;

/** Encodes one signed 16-bit PCM sample as a μ-law byte (ITU-T G.711). */
export function encodeSample(pcm: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(pcm)));
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  if (s > CLIP) s = CLIP;
  s += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function decodeByte(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + BIAS) << exponent) - BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

// Decoding is a table lookup so energy() stays cheap on the per-frame path of the Deepgram fake.
const DECODE = new Int16Array(256);
const ABS = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  DECODE[i] = decodeByte(i);
  ABS[i] = Math.abs(decodeByte(i));
}

/** Decodes one μ-law byte to a signed 16-bit PCM sample. */
export function decodeSample(byte: number): number {
  return DECODE[byte & 0xff]!;
}

/** Encodes 16-bit PCM samples to μ-law. */
export function encode(pcm: Int16Array | readonly number[]): Buffer {
  const out = Buffer.allocUnsafe(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = encodeSample(pcm[i]!);
  return out;
}

/** Decodes μ-law bytes to 16-bit PCM samples. */
export function decode(mulaw: Uint8Array): Int16Array {
  const out = new Int16Array(mulaw.length);
  for (let i = 0; i < mulaw.length; i++) out[i] = DECODE[mulaw[i]!]!;
  return out;
}

/** Mean absolute linear amplitude (0…32124) of μ-law audio; 0 for an empty buffer. */
export function energy(mulaw: Uint8Array): number {
  if (mulaw.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < mulaw.length; i++) sum += ABS[mulaw[i]!]!;
  return sum / mulaw.length;
}

// Tones are cached per (hz, amplitude) as one second of audio and then copied, because fakes at
// 300 concurrent calls synthesise the same "speech" over and over.
const toneCache = new Map<string, Buffer>();

function oneSecondTone(hz: number, amplitude: number): Buffer {
  const key = `${hz}:${amplitude}`;
  let buf = toneCache.get(key);
  if (!buf) {
    const n = 8000;
    const pcm = new Int16Array(n);
    for (let i = 0; i < n; i++) pcm[i] = amplitude * Math.sin((2 * Math.PI * hz * i) / 8000);
    buf = encode(pcm);
    if (toneCache.size > 64) toneCache.clear();
    toneCache.set(key, buf);
  }
  return buf;
}

/**
 * A sine tone as μ-law at 8 kHz: `ms * 8` bytes. Whole-hertz frequencies repeat exactly every
 * second, so the cached second is tiled seamlessly.
 */
export function tone(ms: number, hz = 440, amplitude = 8000): Buffer {
  const len = Math.max(0, Math.round(ms * BYTES_PER_MS));
  const src = oneSecondTone(Math.round(hz), amplitude);
  const out = Buffer.allocUnsafe(len);
  for (let off = 0; off < len; off += src.length) src.copy(out, off, 0, Math.min(src.length, len - off));
  return out;
}

/** `ms` of digital silence as μ-law (0xFF bytes). */
export function silence(ms: number): Buffer {
  return Buffer.alloc(Math.max(0, Math.round(ms * BYTES_PER_MS)), SILENCE_BYTE);
}
