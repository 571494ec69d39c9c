import type { DealershipConfig } from '../tenancy/config.js';
import { MULTILINGUAL_STT } from './language-detect.js';
import { isLanguage, LINE_NAMES, MESSAGES, type Language, type ScriptedLines } from './messages.js';

/**
 * Default Deepgram Aura voice per language when the tenant names none (Aura-2 has Spanish voices; the
 * `-en` Aura voices cannot speak Spanish). A tenant sets its own with `agent.voices.<lang>`.
 */
export const DEFAULT_VOICES: Record<Language, string | undefined> = { en: undefined, es: 'aura-2-celeste-es' };

/** Everything that differs between a call in one language and in another, resolved once per call. */
export interface CallLanguage {
  language: Language;
  /**
   * What the STT plugin is opened with: the tenant's English locale for English, the bare tag otherwise, or
   * `multi` when the call listens for the caller's language (the same socket then serves every language).
   */
  sttLanguage: string;
  /** The TTS voice, or undefined for the plugin's own default. */
  voice: string | undefined;
  lines: ScriptedLines;
  /** The greeting, followed by the keypad offer of the tenant's other languages. */
  greeting: string;
}

/** The language a call starts in: the first the tenant serves. */
export function primaryLanguage(cfg: Pick<DealershipConfig, 'languages'>): Language {
  const first = cfg.languages[0];
  return isLanguage(first) ? first : 'en';
}

/** The keypad digit that switches to the language at `index` of `languages` ("para español, oprima dos"). */
export function languageDigit(index: number): string {
  return String(index + 1);
}

/** The language a keypad digit selects, when the tenant serves more than one. */
export function languageForDigit(cfg: Pick<DealershipConfig, 'languages'>, digit: string): Language | undefined {
  if (cfg.languages.length < 2) return undefined;
  const lang = cfg.languages[Number(digit) - 1];
  return /^[1-9]$/.test(digit) && isLanguage(lang) ? lang : undefined;
}

/**
 * Everything a call in `language` uses. `detect`: the call listens for the caller's language
 * (core/i18n/language-detect.ts), so the STT runs multilingual whatever the current language.
 */
export function resolveCallLanguage(cfg: DealershipConfig, language: Language = primaryLanguage(cfg), o: { dealership?: string; detect?: boolean } = {}): CallLanguage {
  const m = MESSAGES[language];
  const overrides = cfg.agent?.lines?.[language] ?? {};
  const lines = Object.fromEntries(LINE_NAMES.map((n) => [n, overrides[n] ?? m.lines[n]])) as unknown as ScriptedLines;
  // `agent.greeting` predates per-language lines: it is the primary language's greeting.
  const ownGreeting = overrides.greeting ?? (language === primaryLanguage(cfg) ? cfg.agent?.greeting : undefined);
  const offers = cfg.languages
    .map((l, i) => (l !== language && isLanguage(l) ? MESSAGES[l].offer(languageDigit(i)) : ''))
    .filter(Boolean);
  const greeting = [ownGreeting ?? m.greeting(o.dealership ?? cfg.name), ...offers].join(' ');
  const voice = cfg.agent?.voices?.[language] ?? (language === 'en' ? cfg.agent?.voice : undefined) ?? DEFAULT_VOICES[language];
  const sttLanguage = o.detect ? MULTILINGUAL_STT : language === 'en' ? (cfg.locale.startsWith('en') ? cfg.locale : 'en-US') : language;
  return { language, sttLanguage, voice, lines, greeting };
}
