import { DateTime } from 'luxon';
import type { Language } from '../i18n/messages.js';
import { REMINDER_LINES } from '../i18n/reminder-lines.js';
import { MESSAGES } from '../i18n/messages.js';
import type { DealershipConfig } from '../tenancy/config.js';

/**
 * The outbound persona of a reminder call a person answered (docs/reminders.md, "When a person answers"), in the
 * call's language (core/i18n/reminder-lines.ts).
 *
 * Whoever answers may not be the customer, so the greeting and this prompt carry NO appointment details: not the
 * day, the time, the service or the car, not even the service menu. The model learns them only from verify_callee's
 * result, which the server returns only once the callee proved to be the customer. The prompt's rules are guidance;
 * the server enforces them regardless (no tool before verification returns a detail).
 */
export function buildReminderPrompt(cfg: DealershipConfig, o: { now: Date; firstName: string | null; language?: Language }): string {
  const language = o.language ?? 'en';
  const lines = REMINDER_LINES[language];
  const local = DateTime.fromJSDate(o.now, { zone: cfg.timezone }).setLocale(MESSAGES[language].locale);
  return lines.prompt({
    dealership: cfg.name, who: o.firstName ?? lines.theCustomer,
    date: local.toFormat(language === 'en' ? 'cccc, LLLL d, yyyy' : "cccc d 'de' LLLL 'de' yyyy"), time: local.toFormat('h:mm a'), zone: cfg.timezone,
  }).join('\n');
}

/** The first thing the callee hears: who is calling and why, and the customer asked for by first name only. */
export function reminderGreeting(o: { dealership: string; firstName: string | null; language?: Language }): string {
  return REMINDER_LINES[o.language ?? 'en'].greeting(o);
}
