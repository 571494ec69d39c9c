import type { DateTime } from 'luxon';

/**
 * Dates and times as a caller hears them, in the call's language and the dealership's zone (the DateTime
 * already carries the zone). A fixed pattern per language rather than ICU presets: ICU's short times put a
 * narrow no-break space before "AM" and write Spanish times as "9:30 a. m.", which TTS voices read badly.
 */
function isSpanish(locale: string): boolean {
  return locale === 'es' || locale.startsWith('es-');
}

/** "Tuesday, March 10" / "martes 10 de marzo" */
export function speakDay(at: DateTime, locale: string): string {
  if (isSpanish(locale)) return at.setLocale('es').toFormat("cccc d 'de' LLLL");
  return at.setLocale(locale).toFormat('cccc, LLLL d');
}

/** The Spanish part of day for a clock hour, as people say it on the phone. */
function spanishPeriod(hour: number): string {
  if (hour < 6) return 'de la madrugada';
  if (hour < 12) return 'de la mañana';
  if (hour < 13) return 'del mediodía';
  if (hour < 20) return 'de la tarde';
  return 'de la noche';
}

/** "9:30 AM" / "9:30 de la mañana" */
export function speakTime(at: DateTime, locale: string): string {
  if (isSpanish(locale)) return `${at.toFormat('h:mm')} ${spanishPeriod(at.hour)}`;
  return at.setLocale(locale).toFormat('h:mm a');
}

/** "Tuesday, March 10 at 9:30 AM" / "el martes 10 de marzo a las 9:30 de la mañana" */
export function speakWhen(at: DateTime, locale: string): string {
  if (isSpanish(locale)) {
    // Spanish says "a la una" but "a las dos", "a las nueve".
    const article = at.toFormat('h') === '1' ? 'a la' : 'a las';
    return `el ${speakDay(at, locale)} ${article} ${speakTime(at, locale)}`;
  }
  return `${speakDay(at, locale)} at ${speakTime(at, locale)}`;
}

/** A past date, for service history: "March 3, 2026" / "3 de marzo de 2026". */
export function speakDate(at: DateTime, locale: string): string {
  if (isSpanish(locale)) return at.setLocale('es').toFormat("d 'de' LLLL 'de' yyyy");
  return at.setLocale(locale).toFormat('LLLL d, yyyy');
}
