/** 49 CFR 565.15: the North-American VIN rules, checked before any network call. */
const VALUES = {
    A: 1, B: 2, C: 3, D: 4, E: 5, F: 6, G: 7, H: 8, J: 1, K: 2, L: 3, M: 4, N: 5, P: 7, R: 9,
    S: 2, T: 3, U: 4, V: 5, W: 6, X: 7, Y: 8, Z: 9,
};
const WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
const VIN_RE = /^[A-HJ-NPR-Z0-9]{17}$/;
/**
 * Upper-cases and strips separators; maps the letters callers say for digits (O→0, I→1, Q→0).
 * @example normalizeVin('1hg cm8-2633a004352') // '1HGCM82633A004352'
 */
export function normalizeVin(raw) {
    return raw.toUpperCase().replace(/[\s.-]/g, '').replace(/[OQ]/g, '0').replace(/I/g, '1');
}
/** The expected check digit ('0'–'9' or 'X') for a 17-character VIN. */
export function vinCheckDigit(vin) {
    let sum = 0;
    for (let i = 0; i < 17; i++) {
        const ch = vin[i] ?? '';
        const v = /[0-9]/.test(ch) ? Number(ch) : VALUES[ch] ?? 0;
        sum += v * (WEIGHTS[i] ?? 0);
    }
    const r = sum % 11;
    return r === 10 ? 'X' : String(r);
}
/** Validates a VIN after {@link normalizeVin}; a check-digit mismatch usually means a mis-heard character. */
export function isValidVin(raw) {
    const vin = normalizeVin(raw);
    if (vin.length !== 17)
        return { ok: false, reason: 'length', vin };
    if (!VIN_RE.test(vin))
        return { ok: false, reason: 'characters', vin };
    if (vinCheckDigit(vin) !== vin[8])
        return { ok: false, reason: 'check_digit', vin };
    return { ok: true, vin };
}
//# sourceMappingURL=vin.js.map