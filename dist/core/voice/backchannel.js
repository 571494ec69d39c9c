/** Words a listener says to show they're following, not to take the turn. */
const WORDS = new Set([
    'mhm', 'mm', 'mmm', 'hmm', 'hm', 'mhmm', 'mmhmm', 'uh-huh', 'uhhuh', 'uh', 'huh', 'um', 'ah', 'oh',
    'okay', 'ok', 'k', 'yeah', 'yep', 'yup', 'yes', 'right', 'sure', 'alright', 'cool', 'great', 'nice',
]);
const PHRASES = new Set(['uh huh', 'all right', 'got it', 'i see', 'sounds good', 'that works', 'oh okay', 'okay great']);
function normalise(text) {
    return text.toLowerCase().replace(/[^a-z'\s-]/g, ' ').split(/\s+/).filter(Boolean);
}
/**
 * Whether `text` (what the STT heard while the agent spoke) is real speech that should take the turn, as
 * opposed to a short backchannel ("mhm", "okay", "yeah", "uh-huh", "right", "sure") or noise (no words).
 */
export function isRealSpeech(text, o = {}) {
    const words = normalise(text);
    if (words.length === 0)
        return false;
    // An interim result may be the start of "got it": one word decides nothing. The agent is already paused,
    // so waiting for a second word or the final costs no audio, only a few ms before the LLM is aborted.
    if (o.partial && words.length < 2)
        return false;
    if (words.length > 3)
        return true;
    if (words.every((w) => WORDS.has(w)))
        return false;
    return !PHRASES.has(words.join(' '));
}
//# sourceMappingURL=backchannel.js.map