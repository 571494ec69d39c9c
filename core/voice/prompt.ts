import { DateTime } from 'luxon';
import type { DealershipConfig, Weekday } from '../tenancy/config.js';
import { MESSAGES, type Language } from '../i18n/messages.js';
import { primaryLanguage } from '../i18n/call-language.js';
import { speakTime } from '../i18n/speech-dates.js';

const DAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/**
 * The system prompt for one call, in the call's language (wording from core/i18n/messages.ts). It holds
 * nothing secret and no customer data (it is safe to leak); the rules are guidance for the model, while the
 * server enforces identity and ownership regardless of them.
 */
export function buildSystemPrompt(cfg: DealershipConfig, o: { now: Date; direction?: 'inbound' | 'outbound'; language?: Language }): string {
  const lang = o.language ?? primaryLanguage(cfg);
  const m = MESSAGES[lang];
  const p = m.prompt;
  const local = DateTime.fromJSDate(o.now, { zone: cfg.timezone });
  const hours = DAYS.map((k, i) => {
    const ivs = cfg.businessHours[k] ?? [];
    return `${m.weekdays[i]} ${ivs.length ? ivs.map((iv) => `${iv.open}-${iv.close}`).join(', ') : p.closed}`;
  }).join('; ');
  const services = cfg.serviceTypes.map((s) => `${s.name} (id ${s.id}, ${s.durationMin} ${p.minutes})`).join('; ');
  const date = lang === 'en' ? local.toFormat('cccc, LLLL d, yyyy') : local.setLocale(m.locale).toFormat("cccc d 'de' LLLL 'de' yyyy");
  const time = lang === 'en' ? local.toFormat('h:mm a') : speakTime(local, m.locale);
  return [
    cfg.agent?.persona ?? p.defaultPersona,
    p.answering({ dealership: cfg.name, date, time, zone: cfg.timezone }),
    p.hours({ hours, services }),
    p.howToTalk,
    p.rulesHeader,
    ...p.rules,
    o.direction === 'outbound' ? p.outbound : '',
  ].filter(Boolean).join('\n');
}
