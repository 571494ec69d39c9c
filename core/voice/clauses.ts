/**
 * Cuts streamed LLM text into clauses for TTS: on `, . ? ! ; :` followed by whitespace, once the clause has
 * at least `minChars` characters, so Aura gets natural chunks (one word is choppy, a paragraph is slow).
 * Clauses are raw slices: concatenated they equal the input exactly, which lets barge-in truncation map
 * "bytes played" back onto the assistant's text.
 *
 * The first clause is what the caller waits for, so it goes as soon as it is a natural unit: "Sure thing!"
 * and "Okay," are spoken at once, whatever their length. And a delta that ends in `. ! ?` right after a letter
 * is a boundary without waiting for the next chunk (a model streams the mark as its own token, and the next
 * token may be 30+ ms away); after a digit it is not ("3." may become "3.5"), nor after a title ("Dr.").
 * A first sentence with no early punctuation ("We have openings on Tuesday at nine thirty in the morning, …") is
 * cut before its first phrase opener once it holds a few words ("We have openings | on Tuesday …"): the break a
 * speaker would breathe at, heard ~250 ms sooner at a model's pace than waiting for the comma.
 */
export class ClauseSplitter {
  private buf = '';
  /** No clause emitted yet: the short-unit rule applies. */
  private first = true;
  private readonly minChars: number;
  private readonly maxChars: number;

  constructor(o: { minChars?: number; maxChars?: number } = {}) {
    this.minChars = o.minChars ?? 12;
    this.maxChars = o.maxChars ?? 180;
  }

  /** Adds streamed text; returns the clauses it completed (possibly none). */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    let start = 0;
    // A boundary is normally known once the next character (whitespace) has arrived: "3.5" and "10:30" stay whole.
    for (let i = 0; i < this.buf.length - 1; i++) {
      const c = this.buf.charCodeAt(i);
      const isPunct = c === 44 || c === 46 || c === 63 || c === 33 || c === 59 || c === 58; // , . ? ! ; :
      if (isPunct && isSpace(this.buf.charCodeAt(i + 1)) && !(c === 46 && this.isAbbreviation(i)) && this.longEnough(start, i + 1)) {
        let end = i + 1;
        while (end < this.buf.length && isSpace(this.buf.charCodeAt(end))) end++;
        out.push(this.buf.slice(start, end));
        this.first = false;
        start = end;
        i = end - 1;
      } else if (i + 1 - start >= this.maxChars && isSpace(c)) {
        // No punctuation for a long stretch: cut at a space rather than make TTS wait for the whole answer.
        out.push(this.buf.slice(start, i + 1));
        this.first = false;
        start = i + 1;
      }
    }
    if (this.first && start < this.buf.length) {
      const cut = this.firstPhraseBreak(start);
      if (cut > start) {
        out.push(this.buf.slice(start, cut));
        this.first = false;
        start = cut;
      }
    }
    // The delta ended on final punctuation after a letter: the clause is complete now.
    if (start < this.buf.length && this.endsOnFinalMark(start) && this.longEnough(start, this.buf.length)) {
      out.push(this.buf.slice(start));
      this.first = false;
      start = this.buf.length;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** The first clause needs only a word; later ones `minChars`, so Aura still gets natural chunks. */
  private longEnough(start: number, end: number): boolean {
    const n = this.buf.slice(start, end).trim().length;
    return this.first ? n >= 2 : n >= this.minChars;
  }

  /**
   * Where the first clause can end before a phrase opener ("on", "and", "which", …), or -1: the opener must be a
   * whole word (followed by a space, so "on" is not the start of "only"), with at least FIRST_BREAK_WORDS words and
   * FIRST_BREAK_CHARS characters before it, and none of them a digit (a time or amount reads as one unit).
   */
  private firstPhraseBreak(start: number): number {
    const s = this.buf;
    let words = 0;
    for (let i = start; i < s.length; i++) {
      if (isSpace(s.charCodeAt(i)) || (i > start && !isSpace(s.charCodeAt(i - 1)))) continue;
      // i starts a word; the word is complete once a space follows it.
      let j = i;
      while (j < s.length && !isSpace(s.charCodeAt(j))) j++;
      if (j >= s.length) return -1;
      const word = s.slice(i, j);
      if (/\d/.test(word)) return -1;
      if (words >= FIRST_BREAK_WORDS && i - start >= FIRST_BREAK_CHARS && PHRASE_OPENERS.has(word.toLowerCase())) return i;
      words++;
      i = j;
    }
    return -1;
  }

  private endsOnFinalMark(start: number): boolean {
    const s = this.buf;
    const last = s.charCodeAt(s.length - 1);
    // . ! ? always; a comma too for the first clause ("Okay," is a unit of its own).
    if (!(last === 46 || last === 33 || last === 63 || (this.first && last === 44))) return false;
    if (s.length - start < 2 || !isLetter(s.charCodeAt(s.length - 2))) return false;
    return !(last === 46 && this.isAbbreviation(s.length - 1));
  }

  /** The period at `dot` closes a title or abbreviation ("Dr.", "St.", "e.g."), not a sentence. */
  private isAbbreviation(dot: number): boolean {
    let j = dot;
    while (j > 0 && isLetter(this.buf.charCodeAt(j - 1))) j--;
    return j < dot && ABBREVIATIONS.has(this.buf.slice(j, dot).toLowerCase());
  }

  /** The remainder at the end of the response (may be empty). */
  end(): string {
    const rest = this.buf;
    this.buf = '';
    return rest;
  }
}

const FIRST_BREAK_WORDS = 3;
const FIRST_BREAK_CHARS = 16;
/** Words that open a phrase: a pause before them is where a speaker breathes. */
const PHRASE_OPENERS = new Set([
  'on', 'at', 'in', 'for', 'with', 'from', 'to', 'about', 'after', 'before', 'around', 'between', 'during',
  'and', 'but', 'so', 'because', 'which', 'who', 'that', 'if', 'when', 'while', 'until', 'or',
  // Spanish calls use the same splitter.
  'en', 'para', 'con', 'desde', 'hasta', 'y', 'pero', 'porque', 'que', 'si', 'cuando', 'mientras',
]);

/** Words written with a period that rarely end a sentence ("Dr. Patel", "Main St. location", "e.g."). */
const ABBREVIATIONS = new Set(['mr', 'mrs', 'ms', 'dr', 'st', 'jr', 'sr', 'vs', 'etc', 'eg', 'ie', 'e', 'g', 'i', 'a', 'p', 'm', 'approx', 'no', 'ave', 'blvd', 'rd', 'mt', 'ft']);

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c > 191;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

/** The first `fraction` of a clause's words, for a clause the caller heard only part of. */
export function wordPrefix(text: string, fraction: number): string {
  if (fraction >= 1) return text;
  if (fraction <= 0) return '';
  const words = text.match(/\S+\s*/g) ?? [];
  const n = Math.floor(words.length * fraction);
  if (n === 0) return '';
  // A clause cut at the end of a delta leaves the next one starting with a space: keep it, so the heard text
  // stays an exact prefix of the assistant's text.
  const lead = /^\s*/.exec(text)![0];
  return lead + words.slice(0, n).join('').trimEnd();
}
