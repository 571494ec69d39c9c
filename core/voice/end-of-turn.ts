/**
 * The end-of-turn decision on the transcript. The STT's endpointing is kept short so a caller who has finished
 * is answered at once; the price is that a breath in the middle of a sentence also looks like an end. Words
 * that cannot end a request settle most of those: "book an oil change for …", "the brakes and …", "I need
 * the …", "about 45 …" (a number is often followed by its unit or the rest of a phone number), "um". After
 * such a word the session waits for more words or the STT's UtteranceEnd (its word-gap fallback) instead.
 * Everything else ends the turn; a pause after a complete-looking phrase is covered by the speculative turn
 * (docs/voice.md): the request is withdrawn if the caller goes on before the reply is spoken.
 */

/** Coordinating and subordinating conjunctions that leave a sentence open. */
// Only words that practically never end a sentence: "I think so", "see you then", "I'll take that", "come by",
// "yes I can" and "I need some" all end a request, so so/then/that/by/can/some are deliberately not here.
const CONJUNCTIONS = ['and', 'or', 'but', 'because', 'cause', 'if', 'than', 'when', 'while', 'although', 'unless', 'whether', 'plus', 'nor'];
/** Prepositions: a request ending in one is missing its object. */
const PREPOSITIONS = ['for', 'to', 'of', 'at', 'with', 'from', 'about', 'into', 'onto', 'between', 'without', 'during', 'via', 'per', 'towards', 'toward'];
/** Articles and possessives: a noun must follow. */
const DETERMINERS = ['a', 'an', 'the', 'my', 'your', 'our', 'their'];
/** Hesitations the STT transcribes. */
const FILLERS = ['um', 'uh', 'er', 'erm', 'uhm', 'umm', 'uhh', 'hmm'];
/** Pronoun-verb openings that need a continuation ("I'd …", "it's …"). */
const OPENERS = ['i', "i'd", "i'm", "it's", "i'll", "we're", "we'd", 'wanna', 'gonna'];

const OPEN_WORDS = new Set([...CONJUNCTIONS, ...PREPOSITIONS, ...DETERMINERS, ...FILLERS, ...OPENERS]);

/**
 * True when the transcript so far ends on a word that cannot end a request, so the caller is most likely
 * mid-sentence. A question mark always ends the turn (the STT punctuates a finished question); any other
 * trailing punctuation is ignored, because STTs also punctuate a mid-sentence pause.
 */
export function looksUnfinished(text: string): boolean {
  const t = text.trim();
  if (!t) return false;
  if (t.endsWith('?')) return false;
  const m = /([\p{L}\p{N}']+)[^\p{L}\p{N}']*$/u.exec(t);
  if (!m) return false;
  const word = m[1]!.toLowerCase().replace(/’/g, "'");
  if (/^\p{N}+$/u.test(word)) return true;
  return OPEN_WORDS.has(word);
}
