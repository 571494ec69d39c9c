import assert from 'node:assert/strict';
import type { LlmDelta, SttSession } from '../../core/sdk/index.js';
import { CallMeter, meterLlm, meterSttSession, meterTools } from '../../core/usage/call-meter.js';
import { toCsv } from '../../core/usage/report.js';

type Args = { signal: AbortSignal };
const args: Args = { signal: new AbortController().signal };

function stream(deltas: LlmDelta[], closed: { returned: boolean }): (a: Args) => AsyncIterable<LlmDelta> {
  return () => ({
    async *[Symbol.asyncIterator]() {
      try { for (const d of deltas) yield d; } finally { closed.returned = true; }
    },
  });
}

describe('call meter wrappers', () => {
  it('counts the bytes pushed to the STT session and passes every frame through unchanged', () => {
    const got: Uint8Array[] = [];
    const inner: SttSession = { push: (c) => { got.push(c); }, finalize: () => {}, close: async () => {} };
    const m = new CallMeter();
    const s = meterSttSession(inner, m);
    const a = Buffer.alloc(160, 1);
    const b = Buffer.alloc(480, 2);
    s.push(a);
    s.push(b);
    assert.deepEqual(got, [a, b]);
    assert.equal(m.sttBytes, 640);
    assert.equal(m.sttAudioMs, 80);
  });

  it('counts tokens from the done delta, and none for a stream cut off before it (barge-in), closing the provider stream', async () => {
    const m = new CallMeter();
    const full = { returned: false };
    const deltas: LlmDelta[] = [{ type: 'text', text: 'Hi' }, { type: 'done', finishReason: 'stop', usage: { promptTokens: 120, completionTokens: 7 } }];
    const seen: LlmDelta[] = [];
    for await (const d of meterLlm(stream(deltas, full), m)(args)) seen.push(d);
    assert.deepEqual(seen, deltas);
    assert.deepEqual([m.llmRequests, m.llmPromptTokens, m.llmCompletionTokens], [1, 120, 7]);

    const cut = { returned: false };
    for await (const d of meterLlm(stream(deltas, cut), m)(args)) { if (d.type === 'text') break; }
    assert.equal(cut.returned, true, 'breaking out reaches the provider stream (it must close its socket)');
    assert.deepEqual([m.llmRequests, m.llmPromptTokens, m.llmCompletionTokens], [2, 120, 7]);
  });

  it('counts tool executions and keeps the runner\'s other methods', async () => {
    const m = new CallMeter();
    const runner = { schemasFor: () => ['x'], execute: async (n: number) => n * 2 };
    const t = meterTools(runner, m);
    assert.equal(await t.execute(2), 4);
    assert.deepEqual(t.schemasFor(), ['x']);
    assert.equal(m.toolCalls, 1);
  });
});

describe('usage CSV', () => {
  it('quotes commas, quotes and line breaks, neutralises spreadsheet formulas, keeps negative numbers', () => {
    const csv = toCsv(['a', 'b', 'c'], [{ a: 'x,y', b: 'say "hi"', c: '=1+2' }, { a: -3, b: null, c: 'line\nbreak' }]);
    assert.equal(csv, 'a,b,c\r\n"x,y","say ""hi""",\'=1+2\r\n-3,,"line\nbreak"\r\n');
  });
});
