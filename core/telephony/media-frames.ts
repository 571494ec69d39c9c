/**
 * Outbound Twilio `media` messages, built as bytes. Per call the envelope never changes — only the base64
 * payload does — so `{"event":"media","streamSid":"MZ…","media":{"payload":"` and `"}}` are encoded once per
 * stream, and each frame is one copy of them around the payload. Sent as a Buffer (in a text frame), the
 * message skips the UTF-8 pass a string takes on its way to the socket.
 *
 * The frame is written into one buffer per stream and that buffer is reused, so a call makes no garbage per
 * frame beyond the payload's base64 string. Reuse is only safe once the socket holds no reference to the
 * previous frame: a write the kernel took at once is done with it, one it couldn't take is still queued
 * (`bufferedAmount > 0`). The caller says which (`reusable`); a queued socket gets a fresh buffer.
 */
export class MediaFrameEncoder {
  private readonly head: Buffer;
  private static readonly TAIL = Buffer.from('"}}', 'latin1');
  private pool: Buffer;

  constructor(streamSid: string) {
    this.head = Buffer.from(`{"event":"media","streamSid":${JSON.stringify(streamSid)},"media":{"payload":"`, 'utf8');
    // Room for a 40 ms frame (320 bytes → 428 base64 chars); longer frames grow it once.
    this.pool = Buffer.allocUnsafe(this.head.length + 428 + MediaFrameEncoder.TAIL.length);
  }

  /** The whole message for `mulaw`. With `reusable` false the bytes are a fresh buffer the socket may keep. */
  encode(mulaw: Buffer, reusable: boolean): Buffer {
    const b64Len = Math.ceil(mulaw.length / 3) * 4;
    const total = this.head.length + b64Len + MediaFrameEncoder.TAIL.length;
    let buf: Buffer;
    if (!reusable) buf = Buffer.allocUnsafe(total);
    else {
      if (this.pool.length < total) this.pool = Buffer.allocUnsafe(total);
      buf = this.pool;
    }
    this.head.copy(buf, 0);
    buf.write(mulaw.toString('base64'), this.head.length, b64Len, 'latin1');
    MediaFrameEncoder.TAIL.copy(buf, this.head.length + b64Len);
    return buf.length === total ? buf : buf.subarray(0, total);
  }
}
