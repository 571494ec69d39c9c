import { languageForDigit, resolveCallLanguage, type CallLanguage } from '../i18n/call-language.js';
import { isLanguage } from '../i18n/messages.js';
import { detectsSpokenLanguage, SpokenLanguage } from '../i18n/language-detect.js';
import type { DealershipConfig } from '../tenancy/config.js';
import type { CallLanguageSwitch } from './call-session.js';

/**
 * How a call may change language, handed to its CallSession: two doors, one switch. The keypad door maps the
 * greeting's "para español, oprima dos" to a language; the speech door ({@link SpokenLanguage}) decides from
 * the caller's own words. Both end in `CallSession.switchToLanguage(language)`, which asks {@link resolve} for
 * everything the new language changes (voice, STT language, lines, prompt, greeting).
 */
export interface CallLanguages {
  /** The language a keypad digit selects, if any. */
  forDigit(digit: string): string | undefined;
  /** Everything a switch to `language` changes, or undefined for a language the tenant does not serve. */
  resolve(language: string): CallLanguageSwitch | undefined;
  /** Listening for the caller's language; absent when the tenant turned detection off or serves one language. */
  spoken?: SpokenLanguage;
}

/**
 * The languages of one call of a tenant. `speechFor` supplies what only the voice service knows (the line-cache
 * slot and key of a language, and the system prompt for the call's direction and time).
 */
export function callLanguages(o: {
  cfg: DealershipConfig;
  start: CallLanguage;
  speechFor: (lang: CallLanguage) => Pick<CallLanguageSwitch, 'linesSlot' | 'configKey' | 'systemPrompt'>;
}): CallLanguages {
  const detect = detectsSpokenLanguage(o.cfg);
  return {
    forDigit: (digit) => languageForDigit(o.cfg, digit),
    resolve: (language) => {
      if (!isLanguage(language) || !o.cfg.languages.includes(language)) return undefined;
      const r = resolveCallLanguage(o.cfg, language, { detect });
      return { language, sttLanguage: r.sttLanguage, voice: r.voice, script: r.lines, greeting: r.greeting, ...o.speechFor(r) };
    },
    ...(detect ? { spoken: new SpokenLanguage({ served: o.cfg.languages, current: o.start.language }) } : {}),
  };
}
