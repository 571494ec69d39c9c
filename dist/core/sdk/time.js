const ISO_INSTANT_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;
/**
 * Parses a full ISO 8601 instant (with `Z` or an offset) on a real calendar day, or returns null.
 *
 * @remarks JS `Date` silently rolls `2099-02-30` over to 2 March; vendor payloads and tool arguments must not.
 * @example parseIsoInstant('2027-01-05T10:00:00Z') // Date; parseIsoInstant('2099-02-30T10:00:00Z') // null
 */
export function parseIsoInstant(s) {
    const m = ISO_INSTANT_RE.exec(s);
    if (!m)
        return null;
    const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number);
    const cal = new Date(Date.UTC(y, mo - 1, d));
    if (cal.getUTCFullYear() !== y || cal.getUTCMonth() !== mo - 1 || cal.getUTCDate() !== d || h > 23 || mi > 59 || se > 59)
        return null;
    const t = new Date(s);
    return Number.isNaN(t.getTime()) ? null : t;
}
//# sourceMappingURL=time.js.map