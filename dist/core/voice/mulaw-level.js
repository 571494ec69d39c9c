/** |PCM| for each G.711 μ-law byte, so a frame's loudness is table lookups, not decoding. */
const ABS = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
    const u = ~i & 0xff;
    const exponent = (u >> 4) & 0x07;
    ABS[i] = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
}
/**
 * Mean absolute amplitude of a μ-law frame, sampling every 4th byte (plenty to tell a line's noise floor
 * from a voice; it only steers batching, never what is sent).
 */
export function mulawLevel(frame) {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < frame.length; i += 4) {
        sum += ABS[frame[i]];
        n++;
    }
    return n ? sum / n : 0;
}
//# sourceMappingURL=mulaw-level.js.map