import type { DealershipConfig } from '../tenancy/config.js';
import { isLanguage, type Language } from './messages.js';

/**
 * Picking the call's language from what the caller says. When a tenant serves several languages (and has not
 * turned `languageDetection` off), the STT runs in its multilingual mode for the whole call and reports the
 * dominant language of each final (`TranscriptEvent.language`, filled by e.g. stt-deepgram from nova-3
 * `language=multi`). This module decides, from those finals, when the caller has really moved to another of
 * the tenant's languages, so that a loan word ("mi appointment"), a name or a lone "no" never flips the call.
 *
 * The rule (docs/languages.md):
 * - A final of fewer than {@link DetectionRule.minWords} words is no evidence either way: "sí", "okay", "no",
 *   a name or a number read out are the same in both languages or too short to tell.
 * - A final of at least {@link DetectionRule.switchWords} words in another served language switches at once.
 * - Otherwise {@link DetectionRule.streak} consecutive counted finals in the same other language switch.
 * - A counted final in the call's current language (or in a language the tenant does not serve) resets the streak.
 *
 * The decision is taken when the caller's turn ends (CallSession asks {@link SpokenLanguage.take} before it
 * sends the turn to the model), so the utterance that revealed the language is the first one answered in it:
 * the caller never has to repeat it.
 */
export interface DetectionRule {
  minWords: number;
  switchWords: number;
  streak: number;
}

export const DEFAULT_DETECTION_RULE: DetectionRule = { minWords: 2, switchWords: 3, streak: 2 };

/**
 * True when calls of this tenant listen for the caller's language: more than one language served and
 * `languageDetection` not set to false. The STT then opens in its multilingual mode (`"multi"`).
 */
export function detectsSpokenLanguage(cfg: Pick<DealershipConfig, 'languages' | 'languageDetection'>): boolean {
  return cfg.languages.length > 1 && cfg.languageDetection !== false;
}

/** The STT `language` that asks a plugin for per-final language reports (Deepgram's code-switching mode). */
export const MULTILINGUAL_STT = 'multi';

/** `es-419` → `es`; undefined for a tag that names none of our languages. */
export function baseLanguage(tag: string | undefined): Language | undefined {
  const base = tag?.toLowerCase().split('-')[0];
  return isLanguage(base) ? base : undefined;
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
}

/** One call's view of the caller's spoken language. Not shared between calls. */
export class SpokenLanguage {
  private current: string;
  private candidate: Language | undefined;
  private count = 0;
  private decided: Language | undefined;

  constructor(private readonly o: { served: readonly string[]; current: string; rule?: DetectionRule }) {
    this.current = o.current;
  }

  private get rule(): DetectionRule { return this.o.rule ?? DEFAULT_DETECTION_RULE; }

  /** Feeds one final transcript and the language the STT reported for it (undefined: not reported). */
  observe(text: string, language: string | undefined): void {
    const lang = baseLanguage(language);
    const words = wordCount(text);
    if (!language || words < this.rule.minWords) return;
    if (!lang || lang === this.current || !this.o.served.includes(lang)) {
      this.candidate = undefined;
      this.count = 0;
      this.decided = undefined;
      return;
    }
    if (this.candidate !== lang) { this.candidate = lang; this.count = 0; }
    this.count++;
    if (words >= this.rule.switchWords || this.count >= this.rule.streak) this.decided = lang;
  }

  /** The language to switch to now, once (then the streak starts over), or undefined. */
  take(): Language | undefined {
    const d = this.decided;
    if (!d) return undefined;
    this.current = d;
    this.decided = undefined;
    this.candidate = undefined;
    this.count = 0;
    return d;
  }

  /** The call switched language by another path (the keypad): evidence gathered so far no longer applies. */
  switchedTo(language: string): void {
    this.current = language;
    this.decided = undefined;
    this.candidate = undefined;
    this.count = 0;
  }
}
