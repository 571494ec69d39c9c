import { MESSAGES, LINE_NAMES, type LineName, type ScriptedLines } from '../i18n/messages.js';

/**
 * The English scripted lines (the catalogue in core/i18n/messages.ts owns every language). A call speaks the
 * lines of its own language, resolved with the tenant's overrides by core/i18n/call-language.ts.
 */
export const LINES: ScriptedLines = MESSAGES.en.lines;
export { LINE_NAMES, type LineName, type ScriptedLines };

/** The default English greeting when the tenant config has none. */
export function defaultGreeting(dealership: string): string {
  return MESSAGES.en.greeting(dealership);
}
