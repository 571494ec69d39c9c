import assert from 'node:assert/strict';
import { MediaFrameEncoder } from '../../core/telephony/media-frames.js';

describe('MediaFrameEncoder (outbound media messages as bytes)', () => {
  const sid = 'MZ0123456789abcdef0123456789abcdef';
  const audio = (n: number, seed = 7) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

  it('writes exactly the JSON Twilio expects, for frame sizes that need padding and ones that do not', () => {
    const enc = new MediaFrameEncoder(sid);
    for (const n of [1, 2, 3, 159, 160, 161, 320, 480, 1000]) {
      const a = audio(n, n);
      const msg = enc.encode(a, true).toString('utf8');
      assert.equal(msg, JSON.stringify({ event: 'media', streamSid: sid, media: { payload: a.toString('base64') } }), `frame of ${n} bytes`);
    }
  });

  it('escapes a stream id the way JSON does', () => {
    const odd = 'MZ"quoted"\\id';
    const msg = new MediaFrameEncoder(odd).encode(audio(160), false).toString('utf8');
    assert.equal((JSON.parse(msg) as { streamSid: string }).streamSid, odd);
  });

  it('reuses one buffer while the socket holds nothing, and never overwrites a frame the socket may still hold', () => {
    const enc = new MediaFrameEncoder(sid);
    const a = enc.encode(audio(160, 1), true);
    const b = enc.encode(audio(160, 2), true);
    assert.equal(a.buffer, b.buffer, 'the same memory, frame after frame');
    assert.equal(a.byteOffset, b.byteOffset);
    // The socket could not take frame 3 at once: it gets its own bytes, which frame 4 must not touch.
    const held = enc.encode(audio(160, 3), false);
    const copy = Buffer.from(held);
    enc.encode(audio(160, 4), true);
    assert.ok(held.buffer !== b.buffer || held.byteOffset !== b.byteOffset, 'a queued frame has bytes of its own');
    assert.deepEqual(held, copy, 'the queued frame is intact after the next one was written');
  });
});
