import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { isE164, type Customer, type Vehicle } from '../../core/sdk/index.js';
import { isObject } from './client.js';
import type { VehicleSchema } from './schema.js';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An E.164 number split the way Twenty stores it (national number apart from the calling code). */
export interface SplitPhone { e164: string; national: string; callingCode: string; country?: string }

export function splitE164(e164: string): SplitPhone | null {
  if (!isE164(e164)) return null;
  const p = parsePhoneNumberFromString(e164);
  if (!p || p.number !== e164) return null;
  return { e164, national: p.nationalNumber, callingCode: `+${p.countryCallingCode}`, country: p.country };
}

/**
 * The caller-ID filter (reference §1.5): the national number as Twenty stores it, the full E.164 as older or
 * imported records hold it, and a suffix match for other legacy prefixes (`1555…`, `001…`). The suffix branch can
 * match another country's number, so results are re-checked with {@link personMatchesPhone}.
 */
export function phoneFilter(p: SplitPhone): string {
  return `or(phones.primaryPhoneNumber[eq]:"${p.national}",phones.primaryPhoneNumber[eq]:"${p.e164}",phones.primaryPhoneNumber[like]:"%${p.national}")`;
}

/** The E.164 form of a Twenty `phones` value, whichever way the number was stored. */
export function phonesToE164(phones: unknown, fallbackCallingCode?: string): string | undefined {
  if (!isObject(phones)) return undefined;
  const raw = typeof phones.primaryPhoneNumber === 'string' ? phones.primaryPhoneNumber.trim() : '';
  if (raw === '') return undefined;
  const cc = typeof phones.primaryPhoneCallingCode === 'string' && /^\+?[0-9]{1,4}$/.test(phones.primaryPhoneCallingCode)
    ? phones.primaryPhoneCallingCode.replace('+', '') : fallbackCallingCode?.replace('+', '');
  const country = typeof phones.primaryPhoneCountryCode === 'string' && /^[A-Z]{2}$/.test(phones.primaryPhoneCountryCode) ? phones.primaryPhoneCountryCode : undefined;
  const digits = raw.replace(/[^\d+]/g, '');
  // A number stored with its calling code inside primaryPhoneNumber ("+15551234567") carries its own country.
  const p = digits.startsWith('+')
    ? parsePhoneNumberFromString(digits)
    : parsePhoneNumberFromString(digits, cc ? { defaultCallingCode: cc } : country ? { defaultCountry: country as never } : undefined);
  if (p?.isPossible()) return p.number;
  // "15551234567" stored without a plus under calling code +1: try reading the leading digits as the calling code.
  if (!digits.startsWith('+')) {
    const q = parsePhoneNumberFromString(`+${digits}`);
    if (q?.isPossible() && (!cc || q.countryCallingCode === cc)) return q.number;
  }
  return undefined;
}

export function personMatchesPhone(rec: Record<string, unknown>, p: SplitPhone): boolean {
  return phonesToE164(rec.phones, p.callingCode) === p.e164;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Person record → our Customer DTO. Only the documented stable fields are read (reference §1.3). */
export function toCustomer(rec: Record<string, unknown>, o: { zipField?: string; callingCodeHint?: string } = {}): Customer {
  const name = isObject(rec.name) ? rec.name : {};
  const c: Customer = { id: str(rec.id), firstName: str(name.firstName), lastName: str(name.lastName) };
  const phone = phonesToE164(rec.phones, o.callingCodeHint);
  if (phone) c.phone = phone;
  const email = isObject(rec.emails) ? str(rec.emails.primaryEmail) : '';
  if (email) c.email = email;
  if (o.zipField) {
    const zip = str(rec[o.zipField]);
    if (zip) c.zip = zip;
  }
  return c;
}

/**
 * Makes a caller-supplied string safe inside a quoted Twenty filter value. Twenty's splitter tracks `"`, `'`,
 * `[`, `]` and parentheses anywhere in the string and LIKE treats `%`/`_` as wildcards, so each of those becomes
 * the single-character wildcard `_`; results are re-checked exactly afterwards ({@link nameMatches}).
 */
export function likeSafe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/["'`()[\]\\%_,:\u0000-\u001f]/g, '_');
}

/** Lower-cased, trimmed, single-spaced: the form both filter and re-check use. */
export function normalizeName(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * Case-insensitive prefix on first, last or "first last". A multi-word query also tries each split point as
 * exact first name + last-name prefix, which is what the full-name prefix means in a filter without concatenation.
 */
export function nameFilter(q: string): string {
  const s = likeSafe(q);
  const branches = [`name.firstName[ilike]:"${s}%"`, `name.lastName[ilike]:"${s}%"`];
  const words = s.split(' ');
  for (let i = 1; i < words.length && i <= 3; i++) {
    branches.push(`and(name.firstName[ilike]:"${words.slice(0, i).join(' ')}",name.lastName[ilike]:"${words.slice(i).join(' ')}%")`);
  }
  return `or(${branches.join(',')})`;
}

export function nameMatches(c: Customer, q: string): boolean {
  const first = normalizeName(c.firstName);
  const last = normalizeName(c.lastName);
  return first.startsWith(q) || last.startsWith(q) || `${first} ${last}`.startsWith(q);
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** Custom `vehicles` record → Vehicle DTO; fields the workspace lacks are simply absent. */
export function toVehicle(rec: Record<string, unknown>, vs: VehicleSchema): Vehicle {
  const v: Vehicle = { id: str(rec.id), customerId: str(rec[vs.ownerKey]) };
  const vin = str(rec.vin).toUpperCase();
  if (vin) v.vin = vin;
  const year = num(rec.year);
  if (year !== undefined && Number.isInteger(year)) v.year = year;
  const make = str(rec.make);
  if (make) v.make = make;
  const model = str(rec.model);
  if (model) v.model = model;
  const mileage = num(rec.mileage);
  if (mileage !== undefined && mileage >= 0) v.mileage = Math.round(mileage);
  return v;
}

