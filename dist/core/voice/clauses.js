/**
 * Cuts streamed LLM text into clauses for TTS: on `, . ? ! ; :` followed by whitespace, once the clause has
 * at least `minChars` characters, so Aura gets natural chunks (one word is choppy, a paragraph is slow).
 * Clauses are raw slices: concatenated they equal the input exactly, which lets barge-in truncation map
 * "bytes played" back onto the assistant's text.
 */
export class ClauseSplitter {
    buf = '';
    minChars;
    maxChars;
    constructor(o = {}) {
        this.minChars = o.minChars ?? 12;
        this.maxChars = o.maxChars ?? 180;
    }
    /** Adds streamed text; returns the clauses it completed (possibly none). */
    push(text) {
        this.buf += text;
        const out = [];
        let start = 0;
        // A boundary is only known once the next character (whitespace) has arrived: "3.5" and "10:30" stay whole.
        for (let i = 0; i < this.buf.length - 1; i++) {
            const c = this.buf.charCodeAt(i);
            const isPunct = c === 44 || c === 46 || c === 63 || c === 33 || c === 59 || c === 58; // , . ? ! ; :
            if (isPunct && isSpace(this.buf.charCodeAt(i + 1)) && this.buf.slice(start, i + 1).trim().length >= this.minChars) {
                let end = i + 1;
                while (end < this.buf.length && isSpace(this.buf.charCodeAt(end)))
                    end++;
                out.push(this.buf.slice(start, end));
                start = end;
                i = end - 1;
            }
            else if (i + 1 - start >= this.maxChars && isSpace(c)) {
                // No punctuation for a long stretch: cut at a space rather than make TTS wait for the whole answer.
                out.push(this.buf.slice(start, i + 1));
                start = i + 1;
            }
        }
        this.buf = this.buf.slice(start);
        return out;
    }
    /** The remainder at the end of the response (may be empty). */
    end() {
        const rest = this.buf;
        this.buf = '';
        return rest;
    }
}
function isSpace(c) {
    return c === 32 || c === 10 || c === 9 || c === 13;
}
/** The first `fraction` of a clause's words, for a clause the caller heard only part of. */
export function wordPrefix(text, fraction) {
    if (fraction >= 1)
        return text;
    if (fraction <= 0)
        return '';
    const words = text.match(/\S+\s*/g) ?? [];
    const n = Math.floor(words.length * fraction);
    return words.slice(0, n).join('').trimEnd();
}
//# sourceMappingURL=clauses.js.map