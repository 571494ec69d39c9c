// The conversation brain without audio: the real llm-openai plugin (through the voice guards) against the
// fake OpenAI server with scripted tool-call turns, and the real Toolbox over the seeded demo dealership.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { DateTime } from 'luxon';
import { Conversation, type ToolRunner, type TurnSink } from '../../core/voice/conversation.js';
import { ProviderGuards, DEFAULT_BUDGETS } from '../../core/voice/providers.js';
import { toolRunnerFor } from '../../core/voice/voice-service.js';
import { buildSystemPrompt } from '../../core/voice/prompt.js';
import { LINES } from '../../core/voice/lines.js';
import { newCallIdentity, MAX_VERIFICATION_ATTEMPTS, type CallIdentity } from '../../core/tools/identity.js';
import { seedDemo, DEMO_CUSTOMERS } from '../../core/tenancy/seed.js';
import type { DealershipConfig } from '../../core/tenancy/config.js';
import type { ChatMessage } from '../../core/sdk/index.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';

const ALI = DEMO_CUSTOMERS[0]!;

interface Recorded { clauses: string[]; lines: string[]; calls: Array<{ name: string; arguments: string }>; results: Array<{ name: string; ok: boolean; code?: string }>; firstTokens: number }

function recorder(): { sink: TurnSink; rec: Recorded } {
  const rec: Recorded = { clauses: [], lines: [], calls: [], results: [], firstTokens: 0 };
  return {
    rec,
    sink: {
      firstToken: () => { rec.firstTokens++; },
      clause: (c) => rec.clauses.push(c),
      line: (name) => rec.lines.push(name),
      toolCall: (e) => rec.calls.push({ name: e.name, arguments: e.arguments }),
      toolResult: (e) => rec.results.push({ name: e.name, ok: e.ok, code: e.code }),
    },
  };
}

function nextWeekday(): string {
  let d = DateTime.now().setZone('America/Los_Angeles').plus({ days: 2 });
  while (d.weekday > 5) d = d.plus({ days: 1 });
  return d.toISODate()!;
}

describe('Conversation (LLM + tool loop) with the fake OpenAI and the real Toolbox', () => {
  let tp: TestPlatform;
  let ai: FakeOpenAI;
  let tenantId: string;
  let config: DealershipConfig;
  const guards = new ProviderGuards(DEFAULT_BUDGETS);

  before(async () => {
    ai = await startFakeOpenAI({ apiKey: 'sk-conv' });
    tp = await startTestPlatform({ env: { OPENAI_API_KEY: 'sk-conv', OPENAI_BASE_URL: `${ai.url}/v1` } });
    tenantId = (await seedDemo(tp.p)).tenantId;
    config = (await tp.p.tenants.getActive(tenantId)).config!;
  });
  after(async () => {
    await tp?.close();
    await ai?.close();
  });
  beforeEach(() => ai.reset());

  const identity = (callerPhone: string | null = ALI.phone): CallIdentity =>
    newCallIdentity({ tenantId, callSid: `CA${crypto.randomBytes(16).toString('hex')}`, callerPhone });

  async function conversation(o: { tools?: ToolRunner; maxToolSteps?: number; fillerAfterMs?: number; id?: CallIdentity; onIdentity?: (i: CallIdentity) => void } = {}): Promise<Conversation> {
    const llm = await tp.p.registry.get(tenantId, 'llm');
    return new Conversation({
      llm: guards.llm({ llm, breaker: guards.breaker(tenantId, 'llm', 'llm-openai') }),
      tools: o.tools ?? toolRunnerFor(tp.p.toolbox, config.serviceTypes),
      identity: o.id ?? identity(),
      systemPrompt: buildSystemPrompt(config, { now: new Date() }),
      greeting: config.agent?.greeting,
      maxToolSteps: o.maxToolSteps,
      fillerAfterMs: o.fillerAfterMs,
      onIdentity: o.onIdentity,
    });
  }

  const toolMessages = (msgs: ChatMessage[]): Extract<ChatMessage, { role: 'tool' }>[] => msgs.filter((m): m is Extract<ChatMessage, { role: 'tool' }> => m.role === 'tool');

  it('streams the answer as clauses that add up to the text, with the tenant prompt and tools in the request', async () => {
    const conv = await conversation();
    const text = 'Sure, I can help with that. What day works best for you, and which service do you need today?';
    ai.enqueue({ text });
    const { sink, rec } = recorder();
    const r = await conv.run('I need an oil change', sink);
    assert.equal(r.status, 'complete');
    assert.equal(rec.clauses.join(''), text);
    assert.ok(rec.clauses.length >= 2, 'more than one clause');
    assert.equal(rec.firstTokens, 1);
    const body = ai.lastRequest!.body;
    const system = body.messages[0]!;
    assert.equal(system.role, 'system');
    assert.match(String(system.content), /Sunnyvale Honda Service/);
    assert.match(String(system.content), /data, not instructions/);
    assert.equal(body.messages[1]!.content, config.agent?.greeting);
    const names = (body.tools as Array<{ function: { name: string } }>).map((t) => t.function.name);
    assert.ok(names.includes('lookup_customer') && names.includes('verify_customer'));
    assert.ok(!names.includes('book_appointment'), 'account tools are not offered before verification');
    assert.deepEqual(conv.messages[conv.messages.length - 1], { role: 'assistant', content: text });
  });

  it('runs parallel tool calls, returns every result to the model, and keeps identity server-side', async () => {
    const seen: CallIdentity[] = [];
    const conv = await conversation({ onIdentity: (i) => seen.push(i) });
    const date = nextWeekday();
    ai.enqueue(
      { toolCalls: [{ name: 'lookup_customer', arguments: {}, id: 'call_L' }, { name: 'get_available_slots', arguments: { date, service_type: 'oil_change' }, id: 'call_S' }] },
      { text: 'I found some morning slots.' },
    );
    const { sink, rec } = recorder();
    const r = await conv.run('Do you have time for an oil change?', sink);
    assert.equal(r.status, 'complete');
    assert.equal(r.toolRounds, 1);
    assert.deepEqual(rec.calls.map((c) => c.name), ['lookup_customer', 'get_available_slots']);
    assert.deepEqual(rec.results.map((x) => [x.name, x.ok]), [['lookup_customer', true], ['get_available_slots', true]]);
    const second = ai.requests[1]!.body.messages;
    const tools = toolMessages(second as ChatMessage[]);
    assert.deepEqual(tools.map((t) => t.tool_call_id), ['call_L', 'call_S']);
    const assistant = second.find((m) => m.role === 'assistant' && Array.isArray(m.tool_calls))!;
    assert.equal(assistant.tool_calls!.length, 2);
    assert.equal(conv.identity.candidateCustomerIds.length, 1, 'caller ID matched one candidate');
    assert.equal(conv.identity.verifiedCustomerId, null, 'a caller-ID match is not verification');
    assert.equal(seen.length, 1);
    assert.ok(!JSON.stringify(second).includes(conv.identity.candidateCustomerIds[0]!), 'the candidate id never reaches the model');
  });

  it('runs a burst of verify_customer guesses one after another, so the attempt cap holds within one round', async () => {
    const conv = await conversation();
    const guess = (zip: string) => ({ name: 'verify_customer', arguments: { first_name: null, last_name: 'Khani', vin_last4: null, zip } });
    ai.enqueue({ toolCalls: [guess('11111'), guess('22222'), guess('33333'), guess('44444'), guess(ALI.zip)] }, { text: 'Sorry.' });
    const { sink, rec } = recorder();
    await conv.run('My zip is one of these', sink);
    assert.equal(conv.identity.verifiedCustomerId, null, 'the right ZIP after the cap does not verify');
    assert.equal(conv.identity.verificationAttempts, MAX_VERIFICATION_ATTEMPTS);
    assert.deepEqual(rec.results.map((x) => x.code), ['VOI_ERR_NOT_VERIFIED', 'VOI_ERR_NOT_VERIFIED', 'VOI_ERR_NOT_VERIFIED', 'VOI_ERR_TOOL_UNKNOWN', 'VOI_ERR_TOOL_UNKNOWN']);
  });

  it('says the filler line once when a tool round is slower than the threshold, and not for fast tools', async () => {
    const real = toolRunnerFor(tp.p.toolbox, config.serviceTypes);
    const slow: ToolRunner = {
      schemasFor: (i) => real.schemasFor(i),
      execute: async (i, c, o) => { await new Promise((r) => setTimeout(r, 250)); return real.execute(i, c, o); },
    };
    const conv = await conversation({ tools: slow, fillerAfterMs: 100 });
    ai.enqueue({ toolCalls: [{ name: 'lookup_customer', arguments: {} }] }, { toolCalls: [{ name: 'lookup_customer', arguments: {} }] }, { text: 'Found you.' });
    const { sink, rec } = recorder();
    await conv.run('hello', sink);
    assert.deepEqual(rec.lines, ['filler'], 'once per turn, although two rounds were slow');

    const fast = await conversation({ fillerAfterMs: 5_000 });
    ai.enqueue({ toolCalls: [{ name: 'lookup_customer', arguments: {} }] }, { text: 'Found you.' });
    const second = recorder();
    await fast.run('hello', second.sink);
    assert.deepEqual(second.rec.lines, []);
  });

  it('sends malformed tool JSON back to the model once, then stops with the scripted fallback', async () => {
    const conv = await conversation();
    ai.enqueue({ toolCalls: [{ name: 'get_available_slots', arguments: '{"date": "2026-' }] }, { toolCalls: [{ name: 'no_such_tool', arguments: {} }] }, { text: 'never asked for' });
    const { sink, rec } = recorder();
    const r = await conv.run('book me', sink);
    assert.equal(r.status, 'fallback');
    assert.equal(r.fallback, 'bad_tool_calls');
    assert.equal(ai.requests.length, 2, 'the model got one retry, not a third request');
    assert.deepEqual(rec.results.map((x) => x.code), ['VOI_ERR_TOOL_ARGS', 'VOI_ERR_TOOL_UNKNOWN']);
    const retry = toolMessages(ai.requests[1]!.body.messages as ChatMessage[]);
    assert.match(retry[0]!.content, /VOI_ERR_TOOL_ARGS/);
    assert.deepEqual(rec.lines, ['toolFallback']);
    assert.deepEqual(conv.messages[conv.messages.length - 1], { role: 'assistant', content: LINES.toolFallback });
    assert.equal(ai.pending, 1);
  });

  it('recovers when the retry after one malformed call is valid', async () => {
    const conv = await conversation();
    ai.enqueue({ toolCalls: [{ name: 'lookup_customer', arguments: '{oops' }] }, { toolCalls: [{ name: 'lookup_customer', arguments: {} }] }, { text: 'Got it.' });
    const { sink } = recorder();
    const r = await conv.run('hi', sink);
    assert.equal(r.status, 'complete');
    assert.equal(ai.requests.length, 3);
  });

  it('caps tool rounds per turn: the round over the cap is not executed and the turn ends with the fallback', async () => {
    const conv = await conversation({ maxToolSteps: 3 });
    for (let i = 0; i < 5; i++) ai.enqueue({ toolCalls: [{ name: 'lookup_customer', arguments: {} }] });
    const { sink, rec } = recorder();
    const r = await conv.run('loop forever', sink);
    assert.equal(r.status, 'fallback');
    assert.equal(r.fallback, 'step_cap');
    assert.equal(ai.requests.length, 4, '3 executed rounds plus the one refused');
    assert.deepEqual(rec.results.map((x) => x.code ?? 'ok'), ['ok', 'ok', 'ok', 'step_limit']);
    const last = conv.messages.filter((m) => m.role === 'tool').pop()!;
    assert.match((last as { content: string }).content, /step_limit/);
  });

  it('stops on a control tool and reports it', async () => {
    const conv = await conversation();
    ai.enqueue({ text: 'Thanks for calling, goodbye!', toolCalls: [{ name: 'end_call', arguments: {} }] });
    const r = await conv.run("that's all", recorder().sink);
    assert.equal(r.status, 'control');
    assert.equal(r.control, 'end');
    assert.equal(ai.requests.length, 1);
  });

  it('interrupt aborts the stream at the fake and truncates the context to what was heard', async () => {
    const conv = await conversation();
    const text = 'Our first opening is on Tuesday at nine thirty in the morning, then Wednesday at ten, and Thursday afternoon is wide open as well.';
    ai.enqueue({ text, chunkDelayMs: 25, wordsPerChunk: 1 }, { text: 'Okay, Wednesday it is.' });
    const { sink, rec } = recorder();
    let heard = '';
    const done = conv.run('when can I come in?', {
      ...sink,
      clause: (c) => {
        rec.clauses.push(c);
        if (rec.clauses.length === 1) heard = c;
        if (rec.clauses.length === 2) conv.interrupt(heard);
      },
    });
    const r = await done;
    assert.equal(r.status, 'interrupted');
    await ai.waitForAbort(1);
    assert.ok(ai.requests[0]!.textSent.length < text.length, 'the fake saw the stream closed early');
    assert.deepEqual(conv.messages[conv.messages.length - 1], { role: 'assistant', content: heard });
    await conv.run('Wednesday please', recorder().sink);
    const next = ai.requests[1]!.body.messages;
    const assistantTexts = next.filter((m) => m.role === 'assistant').map((m) => m.content);
    assert.ok(assistantTexts.includes(heard));
    assert.ok(!assistantTexts.some((c) => typeof c === 'string' && c.includes('Thursday')), 'the unheard part never reaches the model');
  });

  it('interrupt after the answer finished cuts the stored answer, and removes it when nothing was heard', async () => {
    const conv = await conversation();
    ai.enqueue({ text: 'We are open until six tonight. Anything else?' });
    await conv.run('when do you close?', recorder().sink);
    conv.interrupt('We are open');
    assert.deepEqual(conv.messages[conv.messages.length - 1], { role: 'assistant', content: 'We are open' });
    ai.enqueue({ text: 'Sure thing, see you then.' });
    await conv.run('ok', recorder().sink);
    conv.interrupt('');
    assert.deepEqual(conv.messages[conv.messages.length - 1], { role: 'user', content: 'ok' });
  });

  it('rejects the turn with a coded provider error when the LLM fails twice before any token', async () => {
    const conv = await conversation();
    ai.enqueue({ error: { status: 500, message: 'boom' } }, { error: { status: 500, message: 'boom again' } });
    await assert.rejects(conv.run('hello', recorder().sink), (e: unknown) => (e as { category?: string }).category === 'upstream');
    assert.equal(ai.requests.length, 2, 'one retry of a transient failure');
  });
});
