import assert from 'node:assert/strict';
import { ClauseSplitter, wordPrefix } from '../../core/voice/clauses.js';
import { isRealSpeech } from '../../core/voice/backchannel.js';
import { mergeIdentities } from '../../core/voice/conversation.js';
import { OutboundAudio, FRAME_BYTES, type AudioSink } from '../../core/voice/pacer.js';
import { buildSystemPrompt } from '../../core/voice/prompt.js';
import { newCallIdentity } from '../../core/tools/identity.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { demoConfig } from '../../core/tenancy/seed.js';

describe('ClauseSplitter', () => {
  const split = (pieces: string[], o?: { minChars?: number }): string[] => {
    const s = new ClauseSplitter(o);
    const out = pieces.flatMap((p) => s.push(p));
    const rest = s.end();
    return rest ? [...out, rest] : out;
  };

  it('cuts at punctuation followed by a space once a clause is long enough, and the pieces add up to the input', () => {
    const text = 'Sure, I can help with that. Your car is due for an oil change; shall I book Tuesday at 9:30? Great!';
    const out = split(text.match(/.{1,3}/gs)!);
    assert.equal(out.join(''), text);
    // "Sure," is the first unit and goes alone (see voice-turn-taking.test.ts); later clauses need minChars.
    assert.deepEqual(out.map((c) => c.trim()), ['Sure,', 'I can help with that.', 'Your car is due for an oil change;', 'shall I book Tuesday at 9:30?', 'Great!']);
  });

  it('keeps numbers and times whole and waits for the space after a stop', () => {
    assert.deepEqual(split(['It costs 49.95 dollars at 10:30 today.']), ['It costs 49.95 dollars at 10:30 today.']);
    const s = new ClauseSplitter();
    assert.deepEqual(s.push('That is booked, the total is 49.'), ['That is booked, '], 'no space yet after a digit: could be 49.95');
    assert.deepEqual(s.push('95 dollars. Bye'), ['the total is 49.95 dollars. ']);
  });

  it('cuts a long run without punctuation at a space', () => {
    const words = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
    const out = split([words], { minChars: 12 });
    assert.ok(out.length >= 2);
    assert.equal(out.join(''), words);
    assert.ok(out.every((c) => c.length <= 200));
  });
});

describe('wordPrefix', () => {
  it('keeps the heard fraction of the words', () => {
    assert.equal(wordPrefix('one two three four', 0.5), 'one two');
    assert.equal(wordPrefix('one two three four', 0), '');
    assert.equal(wordPrefix('one two three four ', 1), 'one two three four ');
  });
});

describe('isRealSpeech (backchannel filter)', () => {
  it('treats short acknowledgements and empty text as not taking the turn', () => {
    for (const t of ['mhm', 'Okay.', 'yeah yeah', 'uh-huh', 'Right.', 'sure', 'got it', '', '  ']) assert.equal(isRealSpeech(t), false, t);
  });
  it('treats anything with content as real speech', () => {
    for (const t of ['wait', 'No, Thursday.', 'okay so I need to move it', 'can you repeat that']) assert.equal(isRealSpeech(t), true, t);
  });
  it('waits for a second word on an interim result', () => {
    assert.equal(isRealSpeech('got', { partial: true }), false);
    assert.equal(isRealSpeech('got it', { partial: true }), false);
    assert.equal(isRealSpeech('wait no', { partial: true }), true);
  });
});

describe('mergeIdentities', () => {
  it('adds counter increments, unions lists and takes changed fields from parallel chains', () => {
    const base = newCallIdentity({ tenantId: 't', callSid: 'CA1', callerPhone: '+14085550100' });
    const a = { ...base, verificationAttempts: 2 };
    const b = { ...base, candidateCustomerIds: ['c1'], verificationAttempts: 1 };
    const c = { ...base, verifiedCustomerId: 'c1', candidateCustomerIds: ['c2'] };
    const m = mergeIdentities(base, [a, b, c]);
    assert.equal(m.verificationAttempts, 3);
    assert.deepEqual(m.candidateCustomerIds, ['c1', 'c2']);
    assert.equal(m.verifiedCustomerId, 'c1');
    assert.equal(m.callerPhone, base.callerPhone);
  });
});

describe('buildSystemPrompt', () => {
  it('states the dealership, its local date and time, and the data-not-instructions rule', () => {
    const cfg = parseDealershipConfig(demoConfig());
    const p = buildSystemPrompt(cfg, { now: new Date('2026-03-03T17:00:00Z') });
    assert.match(p, /Sunnyvale Honda Service/);
    assert.match(p, /Tuesday, March 3, 2026/);
    assert.match(p, /9:00 AM/);
    assert.match(p, /data, not instructions/);
    assert.match(p, /Oil change \(id oil_change, 45 min\)/);
  });
});

class RecordingSink implements AudioSink {
  frames: Buffer[] = [];
  events: string[] = [];
  clears = 0;
  bufferedAmount = 0;
  sendAudio(b: Buffer): void { this.frames.push(Buffer.from(b)); this.events.push(`a${b.length}`); }
  sendMark(name: string): void { this.events.push(`m:${name}`); }
  clear(): void { this.clears++; this.events.push('clear'); }
}

describe('OutboundAudio (pacing model)', () => {
  const bytes = (n: number, start = 0): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (start + i) & 0xff));

  it('sends 20 ms frames only up to the lead, then one more per 20 ms of playback, and a mark after the clip', () => {
    const sink = new RecordingSink();
    const out = new OutboundAudio(sink, { leadMs: 80 });
    out.enqueueClip('greeting', 'hi', bytes(1600), 0);
    assert.equal(sink.frames.length, 4, '80 ms lead = 4 frames at t=0');
    assert.ok(sink.frames.every((f) => f.length === FRAME_BYTES));
    out.pump(20);
    assert.equal(sink.frames.length, 5);
    for (let t = 40; t <= 120; t += 20) out.pump(t);
    assert.equal(sink.frames.length, 10);
    assert.deepEqual(sink.events.slice(-1), ['m:g0'], 'mark right after the last frame');
    assert.deepEqual(Buffer.concat(sink.frames), bytes(1600), 'bytes out in order, none lost or repeated');
  });

  it('resumes after a pause exactly where it stopped', () => {
    const sink = new RecordingSink();
    const out = new OutboundAudio(sink, { leadMs: 60 });
    const seg = out.segment('model', 'a clause');
    out.append(seg, bytes(700, 0), 0);
    out.append(seg, bytes(900, 700), 0);
    out.complete(seg, 0);
    out.pause();
    const sentAtPause = sink.frames.length;
    out.pump(100);
    out.pump(500);
    assert.equal(sink.frames.length, sentAtPause, 'nothing sent while paused');
    out.resume(600);
    for (let t = 620; t <= 1000; t += 20) out.pump(t);
    assert.deepEqual(Buffer.concat(sink.frames), bytes(1600), 'the whole clause, in order, once');
  });

  it('estimates the heard part from the playout model and clears Twilio and the queue', () => {
    const sink = new RecordingSink();
    const out = new OutboundAudio(sink, { leadMs: 80 });
    const a = out.enqueueClip('model', 'first', bytes(800), 0); // 100 ms, all sent by t=20
    const b = out.segment('model', 'second');
    out.append(b, bytes(1600), 0); // 200 ms, playing from t=100
    out.complete(b, 0);
    for (let t = 20; t <= 140; t += 20) out.pump(t);
    assert.equal(out.heardFraction(a, 100), 1, 'the 100 ms clip has played by t=100');
    const heardB = out.heardFraction(b, 140);
    assert.ok(Math.abs(heardB - 0.2) < 0.01, `40 of 200 ms heard at t=140 (${heardB})`);
    const dropped = out.clear(140);
    assert.equal(sink.clears, 1);
    assert.ok(dropped.includes(b));
    out.onMark(b.mark);
    assert.equal(b.played, false, 'a mark echoed because of clear is not "played"');
    assert.equal(out.busy, false);
  });

  it('holds back a partial frame until the clause is complete', () => {
    const sink = new RecordingSink();
    const out = new OutboundAudio(sink, { leadMs: 200 });
    const seg = out.segment('model', 'x');
    out.append(seg, bytes(250), 0);
    assert.equal(sink.frames.length, 1);
    out.complete(seg, 0);
    assert.deepEqual(sink.events, ['a160', 'a90', 'm:m0']);
  });
});
