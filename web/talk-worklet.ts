// AudioWorklet of the browser test call (docs/console.md): runs in the audio thread of an 8 kHz AudioContext.
// Captures the microphone as 20 ms μ-law frames (160 samples) for the socket, and plays the agent's μ-law audio
// from a queue, reporting each mark when the audio queued before it has played (Twilio's mark semantics), so
// the server knows exactly what the caller heard when a barge-in cuts the agent off.
declare const registerProcessor: (name: string, ctor: unknown) => void;
declare class AudioWorkletProcessor { readonly port: MessagePort; }

const FRAME = 160;

function linearToMulaw(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32635, Math.min(32635, Math.round(sample * 32767)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

function mulawToLinear(u: number): number {
  u = ~u & 0xff;
  const sign = u & 0x80;
  const exp = (u >> 4) & 0x07;
  const mant = u & 0x0f;
  const s = (((mant << 3) + 0x84) << exp) - 0x84;
  return (sign ? -s : s) / 32768;
}

type Item = { audio: Float32Array; pos: number } | { mark: string };

class TalkProcessor extends AudioWorkletProcessor {
  private frame = new Uint8Array(FRAME);
  private n = 0;
  private queue: Item[] = [];

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent) => {
      const m = e.data as { audio?: Uint8Array; mark?: string; clear?: boolean };
      if (m.audio) {
        const f = new Float32Array(m.audio.length);
        for (let i = 0; i < m.audio.length; i++) f[i] = mulawToLinear(m.audio[i]!);
        this.queue.push({ audio: f, pos: 0 });
      } else if (m.mark !== undefined) this.queue.push({ mark: m.mark });
      else if (m.clear) {
        // Cleared audio is never played; its marks come back at once, as Twilio does.
        for (const it of this.queue) if ('mark' in it) this.port.postMessage({ mark: it.mark });
        this.queue = [];
      }
    };
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const input = inputs[0]?.[0];
    if (input) {
      for (let i = 0; i < input.length; i++) {
        this.frame[this.n++] = linearToMulaw(input[i]!);
        if (this.n === FRAME) { this.port.postMessage({ frame: this.frame }, [this.frame.buffer]); this.frame = new Uint8Array(FRAME); this.n = 0; }
      }
    }
    const out = outputs[0]?.[0];
    if (out) {
      let i = 0;
      while (i < out.length && this.queue.length) {
        const it = this.queue[0]!;
        if ('mark' in it) { this.port.postMessage({ mark: it.mark }); this.queue.shift(); continue; }
        const take = Math.min(out.length - i, it.audio.length - it.pos);
        out.set(it.audio.subarray(it.pos, it.pos + take), i);
        i += take;
        it.pos += take;
        if (it.pos >= it.audio.length) this.queue.shift();
      }
      while (this.queue.length && 'mark' in this.queue[0]!) this.port.postMessage({ mark: (this.queue.shift() as { mark: string }).mark });
      if (i < out.length) out.fill(0, i);
      for (let c = 1; c < (outputs[0]?.length ?? 0); c++) outputs[0]![c]!.set(out);
    }
    return true;
  }
}

registerProcessor('talk', TalkProcessor as any);
