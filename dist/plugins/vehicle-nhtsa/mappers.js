import { PluginError } from '../../core/sdk/index.js';
export const PROVIDER = 'nhtsa';
/**
 * vPIC reports decode problems inside an HTTP 200 (reference §2.3). These codes mean the VIN as given is wrong
 * (corrected, several bad positions, invalid characters): the caller must re-read it, and the data, if any,
 * belongs to some other VIN.
 */
const REREAD_CODES = new Set(['1', '2', '3', '4', '5', '400']);
/** No usable vehicle data: unregistered manufacturer, glider, off-road. */
const NO_DATA_CODES = new Set(['7', '9', '10']);
function text(v) {
    if (typeof v !== 'string')
        return undefined;
    const t = v.trim();
    return t === '' || t.toLowerCase() === 'not applicable' ? undefined : t;
}
/** `"1,11,14"` → ['1','11','14']; a missing code is treated as unknown, not clean. */
export function errorCodes(v) {
    if (typeof v !== 'string' && typeof v !== 'number')
        return [];
    return String(v).split(',').map((s) => s.trim()).filter(Boolean);
}
/**
 * Maps one flat result. Returns null when vPIC has no data for the VIN, throws `invalid_request` when vPIC says
 * the VIN itself is wrong, and otherwise returns what it knows (partial data with warnings like 8, 11, 14 is kept).
 */
export function toVehicleInfo(vin, envelope) {
    const results = typeof envelope === 'object' && envelope !== null ? envelope.Results : undefined;
    if (!Array.isArray(results))
        throw new PluginError('upstream', 'vPIC returned an unexpected envelope', { provider: PROVIDER });
    const r = results[0];
    if (typeof r !== 'object' || r === null)
        return null;
    const codes = errorCodes(r.ErrorCode);
    if (codes.some((c) => REREAD_CODES.has(c))) {
        throw new PluginError('invalid_request', `vPIC reports the VIN has errors (codes ${codes.join(',')}); ask the caller to re-read it`, { provider: PROVIDER });
    }
    const make = text(r.Make);
    if (!make || codes.some((c) => NO_DATA_CODES.has(c)))
        return null;
    const info = { vin, make };
    const model = text(r.Model);
    if (model)
        info.model = model;
    const year = Number(text(r.ModelYear));
    if (Number.isInteger(year) && year >= 1950 && year <= 2100)
        info.year = year;
    const trim = text(r.Trim);
    if (trim)
        info.trim = trim;
    const bodyClass = text(r.BodyClass);
    if (bodyClass)
        info.bodyClass = bodyClass;
    return info;
}
//# sourceMappingURL=mappers.js.map