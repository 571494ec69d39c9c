// The parts CallSession wires, each driven alone through its small interface (the session's side of it is a
// recording double here; the whole call on the real providers is test/integration/voice-call-session.test.ts).
import assert from 'node:assert/strict';
import type { BargeInEvent, CallStatus } from '../../core/voice/call-events.js';
import { SpeculativeTurn } from '../../core/voice/speculative-turn.js';
import { TurnTaking, type AgentTurn, type TurnTakingHooks } from '../../core/voice/turn-taking.js';

function turnTaking(o: { agentTalking?: boolean } = {}) {
  const status: CallStatus = { ended: false, closing: false, failing: false };
  const seen = { turns: [] as Array<{ text: string; speculative: boolean }>, withdrawn: [] as string[], barges: [] as BargeInEvent[], paused: 0, resumed: 0, interrupted: 0 };
  let agentTalking = o.agentTalking ?? false;
  const hooks: TurnTakingHooks = {
    agentHasFloor: () => agentTalking,
    generating: () => false,
    pauseAgent: () => { seen.paused++; },
    resumeAgent: () => { seen.resumed++; },
    interruptAgent: () => { seen.interrupted++; agentTalking = false; return { heard: 'We have openings on', llmAborted: true }; },
    bargeIn: (e) => { seen.barges.push(e); },
    startTurn: (text, speculative) => {
      seen.turns.push({ text, speculative });
      const gate = new SpeculativeTurn({ holdMs: speculative ? 200 : 0, onCommit: () => { tt.committed(); } });
      const turn: AgentTurn = { timing: { turn: 0, sttFinalAt: 0 }, segments: [], emitted: false, text, gate, sink: {} as AgentTurn['sink'] };
      tt.current = turn;
      if (!speculative) gate.commit();
    },
    withdrawn: (t) => { seen.withdrawn.push(t.text); },
    silence: () => undefined,
    dtmf: () => undefined,
    languageDigit: () => false,
    humanKey: () => undefined,
  };
  const tt = new TurnTaking({ status, hooks, bargeInWindowMs: 1000, dtmfIdleMs: 2500, humanKeyWaitMs: 1500, silenceSec: 0 });
  return { tt, seen, status };
}

describe('TurnTaking (who has the floor), alone', () => {
  it('waits out a pause after "for", then asks once with both parts, speculatively', () => {
    const { tt, seen } = turnTaking();
    tt.onTranscript({ type: 'final', text: "I'd like to book an oil change for", speechFinal: true });
    assert.deepEqual(seen.turns, [], 'no request on half a sentence');
    tt.onTranscript({ type: 'final', text: 'my Honda next Tuesday.', speechFinal: true });
    assert.deepEqual(seen.turns, [{ text: "I'd like to book an oil change for my Honda next Tuesday.", speculative: true }]);
    // UtteranceEnd for the same words commits the speculative turn instead of asking again.
    tt.onTranscript({ type: 'utterance_end' });
    assert.equal(seen.turns.length, 1);
    assert.equal(tt.current?.gate.pending, false);
    assert.equal(tt.count, 1);
  });

  it('withdraws a speculative turn when the caller goes on, and the next request carries every word', () => {
    const { tt, seen } = turnTaking();
    tt.onTranscript({ type: 'final', text: 'I need an oil change.', speechFinal: true });
    tt.onTranscript({ type: 'interim', text: 'and a tire' });
    assert.deepEqual(seen.withdrawn, ['I need an oil change.']);
    assert.equal(tt.current, null);
    tt.onTranscript({ type: 'final', text: 'and a tire rotation.', speechFinal: true });
    assert.deepEqual(seen.turns.map((t) => t.text), ['I need an oil change.', 'I need an oil change. and a tire rotation.']);
    assert.equal(tt.count, 0, 'a withdrawn turn is never counted');
  });

  it('pauses the agent on speech over it and resumes it on a backchannel, with no turn taken', () => {
    const { tt, seen } = turnTaking({ agentTalking: true });
    tt.onTranscript({ type: 'speech_started' });
    assert.equal(seen.paused, 1);
    tt.onTranscript({ type: 'final', text: 'Mhm.', speechFinal: true });
    assert.equal(seen.resumed, 1);
    assert.deepEqual(seen.barges.map((b) => b.kind), ['backchannel']);
    assert.equal(seen.interrupted, 0);
    assert.deepEqual(seen.turns, []);
  });

  it('on real words over the agent: one interruption, the heard text reported, and the words start the next turn', () => {
    const { tt, seen } = turnTaking({ agentTalking: true });
    tt.onTranscript({ type: 'speech_started' });
    tt.onTranscript({ type: 'final', text: 'Wait, actually Thursday afternoon please.', speechFinal: true });
    assert.equal(seen.interrupted, 1);
    assert.deepEqual(seen.barges.map((b) => [b.kind, b.heard, b.llmAborted]), [['speech', 'We have openings on', true]]);
    assert.deepEqual(seen.turns, [{ text: 'Wait, actually Thursday afternoon please.', speculative: true }]);
  });

  it('ends a keypad turn on "#", committed at once, and takes no input once the call is closing', () => {
    const { tt, seen, status } = turnTaking();
    for (const d of ['4', '2', '#']) tt.onDtmf(d);
    assert.deepEqual(seen.turns, [{ text: '(keypad: 42)', speculative: false }]);
    assert.equal(tt.count, 1);
    status.closing = true;
    for (const d of ['1', '#']) tt.onDtmf(d);
    tt.onTranscript({ type: 'final', text: 'Hello?', speechFinal: true });
    assert.equal(seen.turns.length, 1);
    tt.close();
  });
});
