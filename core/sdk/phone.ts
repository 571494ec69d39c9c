/**
 * E.164 as ServiceLane stores and passes phone numbers: `+`, a country code that doesn't start with 0, 7–15
 * digits in all. One definition for JSON schemas (the pattern string) and code (the RegExp), core and plugins alike.
 * @example isE164('+15551230000') // true; isE164('5551230000') // false
 */
export const E164_PATTERN = '^\\+[1-9][0-9]{6,14}$';
export const E164_RE = new RegExp(E164_PATTERN);

export function isE164(s: string): boolean {
  return E164_RE.test(s);
}
