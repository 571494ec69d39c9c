import assert from 'node:assert/strict';
import { ClauseSplitter, wordPrefix } from '../../core/voice/clauses.js';
import { looksUnfinished } from '../../core/voice/end-of-turn.js';
import { SpeculativeTurn } from '../../core/voice/speculative-turn.js';
import { chunkTokens } from '../fakes/openai.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Feeds `deltas` one by one; returns, per delta, the clauses it completed. */
function feed(deltas: string[], o?: { minChars?: number }): { perDelta: string[][]; rest: string } {
  const s = new ClauseSplitter(o);
  const perDelta = deltas.map((d) => s.push(d));
  return { perDelta, rest: s.end() };
}

describe('end of turn on the transcript (looksUnfinished)', () => {
  it('waits after a conjunction, a preposition, an article, a bare number or a hesitation', () => {
    for (const t of ["I'd like to book an oil change for", 'Can you check the brakes and', 'I need the', 'The mileage is about 45', "It's the, um", 'my car is a 2019.', 'Um.', 'I want to come in at']) {
      assert.equal(looksUnfinished(t), true, t);
    }
  });

  it('ends the turn on a complete request, a question, or words that often close a sentence', () => {
    for (const t of ['What are your hours today?', 'I need an oil change.', 'Yes I can', 'I think so', "I'll take that", 'See you then.', 'Is it ready at 10?', 'Thanks', '']) {
      assert.equal(looksUnfinished(t), false, t);
    }
  });
});

describe('SpeculativeTurn (the gate of a turn started before the caller was surely done)', () => {
  it('holds output during the hold and commits with the first output after it', async () => {
    const ran: string[] = [];
    let commits = 0;
    const g = new SpeculativeTurn({ holdMs: 30, onCommit: () => { commits++; } });
    g.output(() => ran.push('a'));
    assert.equal(ran.length, 0);
    await sleep(60);
    assert.deepEqual(ran as string[], ['a'], 'output waiting at the end of the hold commits it');
    assert.equal(commits, 1);
    g.output(() => ran.push('b'));
    assert.deepEqual(ran, ['a', 'b']);
  });

  it('stays pending past the hold while nothing is ready, and a withdrawn turn never runs its output', async () => {
    let commits = 0;
    const ran: string[] = [];
    const g = new SpeculativeTurn({ holdMs: 10, onCommit: () => { commits++; } });
    await sleep(30);
    assert.equal(g.pending, true, 'no output yet: still withdrawable');
    g.withdraw();
    g.output(() => ran.push('late'));
    g.commit();
    assert.deepEqual(ran, []);
    assert.equal(commits, 0);
    assert.equal(g.withdrawn, true);
  });

  it('lets tools wait for the commit, and releases them on withdrawal too', async () => {
    const g = new SpeculativeTurn({ holdMs: 20, onCommit: () => undefined });
    const t0 = Date.now();
    await g.settled();
    assert.equal(g.pending, false);
    assert.ok(Date.now() - t0 >= 15, 'not before the hold');
    const w = new SpeculativeTurn({ holdMs: 10_000, onCommit: () => undefined });
    const waiting = w.settled();
    w.withdraw();
    await waiting;
    assert.equal(w.withdrawn, true);
  });

  it('commits at once with no hold (a turn ended by UtteranceEnd or the keypad)', () => {
    const ran: string[] = [];
    const g = new SpeculativeTurn({ holdMs: 0, onCommit: () => ran.push('commit') });
    g.output(() => ran.push('clause'));
    assert.deepEqual(ran, ['commit', 'clause']);
  });
});

describe('ClauseSplitter: the first short unit speaks at once', () => {
  it('"Sure thing!" is a clause as soon as its "!" arrives, without waiting for the next token', () => {
    const { perDelta } = feed(['Sure', ' thing', '!', ' I', ' can', ' help', '.']);
    assert.deepEqual(perDelta[2], ['Sure thing!']);
    assert.deepEqual(perDelta.slice(3, 6).flat(), [], 'a later short clause still waits for minChars');
  });

  it('"Okay," goes alone as the first unit; later commas need a long enough clause', () => {
    const { perDelta, rest } = feed(['Okay', ',', ' so', ',', ' on Tuesday at nine thirty', ',', ' we can do it.']);
    assert.deepEqual(perDelta[1], ['Okay,']);
    assert.deepEqual(perDelta[3], [], '" so," is too short after the first clause');
    assert.deepEqual(perDelta.flat().concat(rest ? [rest] : []).join(''), 'Okay, so, on Tuesday at nine thirty, we can do it.');
  });

  it('a long first sentence is cut before its first phrase opener once it holds a few words', () => {
    const { perDelta, rest } = feed(['We', ' have', ' openings', ' on', ' Tuesday', ' at', ' nine', ' thirty', ' in', ' the', ' morning', ',', ' and', ' more.']);
    assert.deepEqual(perDelta.slice(0, 3).flat(), [], 'not before the opener is a whole word');
    assert.deepEqual(perDelta[3], [], '"on" could still become "only"');
    assert.deepEqual(perDelta[4], ['We have openings '], 'cut before "on" once a space follows it');
    assert.deepEqual(perDelta.slice(5, 11).flat(), [], 'later clauses wait for punctuation and minChars as before');
    assert.equal(perDelta.flat().join('') + rest, 'We have openings on Tuesday at nine thirty in the morning, and more.');
    const only = feed(['We have openings', ' only', ' later this week.']);
    assert.deepEqual(only.perDelta.flat(), ['We have openings only later this week.'], '"only" is no opener');
    const short = feed(['I can', ' do', ' that', ' on Friday.']);
    assert.deepEqual(short.perDelta.flat(), ['I can do that on Friday.'], 'three short words are not enough to break');
    const amount = feed(['It is 49 dollars', ' for', ' the service.']);
    assert.deepEqual(amount.perDelta.flat(), ['It is 49 dollars for the service.'], 'a sentence with an amount or time reads as one unit');
  });

  it('keeps numbers, times and titles whole when their mark ends a delta', () => {
    const { perDelta, rest } = feed(['It costs 49', '.', '95 at 10', ':', '30 with Dr', '.', ' Patel today', '.']);
    assert.deepEqual(perDelta.slice(0, 6).flat(), [], 'no cut after a digit or "Dr."');
    assert.deepEqual(perDelta[7], ['It costs 49.95 at 10:30 with Dr. Patel today.']);
    assert.equal(rest, '');
  });

  it('the pieces of a token stream always add up to the answer exactly', () => {
    const text = 'Sure thing! On Tuesday we have 9:30 and 11 a.m. Would either work? Okay, great.';
    const { perDelta, rest } = feed(chunkTokens(text));
    assert.equal(perDelta.flat().join('') + rest, text);
  });

  it('a partly heard clause that starts with a space keeps it, so the heard text stays an exact prefix', () => {
    const clauses = ['Sure thing!', ' I can help you book a service appointment.'];
    const heard = clauses[0]! + wordPrefix(clauses[1]!, 0.5);
    assert.ok(clauses.join('').startsWith(heard), heard);
    assert.equal(wordPrefix(' one two', 0.01), '');
  });
});
