import assert from 'node:assert/strict';
import type { AnyPluginManifest, PluginManifest } from '../define-plugin.js';
import type { LlmDelta, LlmProvider, ToolSchema } from '../contracts/voice.js';
import { describeConformance, faultScenarios, waitFor } from './common.js';
import type { ConformanceHarness } from './harness.js';

/** Fixtures for {@link describeLlmProvider}. The harness's fake must answer `toolPrompt` with a tool call. */
export interface LlmFixtures {
  /** A user message the model answers with text (default "Say hello."). */
  textPrompt: string;
  /** A user message the model answers by calling the first offered tool (default mentions "TOOL"). */
  toolPrompt: string;
  /** Passed as `model` when set. */
  model?: string;
  /**
   * A user message the model answers with a long, slowly streamed text (dozens of deltas, some ms apart), so
   * an abort lands mid-stream (default mentions "SLOW").
   */
  slowPrompt: string;
  /**
   * The vendor's record of the requests it received, oldest first (the harness reads it off its fake
   * server). Without it the abort scenarios can only see what the plugin yields, not that the HTTP request
   * really stopped, and they are reported as pending.
   */
  vendorRequests?: () => ReadonlyArray<LlmVendorRequest>;
}

/** What a fake LLM vendor saw of one request. */
export interface LlmVendorRequest {
  /** The client closed the connection before the response was complete. */
  closedByClient: boolean;
  /** The whole response was written. */
  completed: boolean;
}

const TOOL: ToolSchema = {
  name: 'get_weather',
  description: 'Current weather for a city.',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
};

async function collect(it: AsyncIterable<LlmDelta>): Promise<LlmDelta[]> {
  const out: LlmDelta[] = [];
  for await (const d of it) out.push(d);
  return out;
}

function assertStream(deltas: LlmDelta[]): Extract<LlmDelta, { type: 'done' }> {
  const dones = deltas.filter((d): d is Extract<LlmDelta, { type: 'done' }> => d.type === 'done');
  assert.equal(dones.length, 1, 'exactly one done delta');
  assert.equal(deltas.at(-1)?.type, 'done', 'done is the last delta');
  for (const d of deltas) {
    assert.ok(['text', 'tool_call', 'done'].includes(d.type), `unknown delta type ${String((d as { type: unknown }).type)}`);
    if (d.type === 'text') assert.equal(typeof d.text, 'string');
  }
  return dones[0]!;
}

/**
 * The LLM provider contract: `generate` streams text deltas and ends with exactly one `done`; offered tools
 * come back as whole `tool_call` deltas (id, name from the offer, JSON-object arguments) with
 * `finishReason: 'tool_calls'`; an aborted signal stops the stream; vendor failures surface as PluginError
 * categories while iterating.
 */
export function describeLlmProvider<S, C>(manifest: PluginManifest<'llm', S, C> | AnyPluginManifest, harness: ConformanceHarness<LlmFixtures>): void {
  describeConformance({
    kind: 'llm',
    manifest: manifest as AnyPluginManifest,
    harness,
    defaults: { textPrompt: 'Say hello.', toolPrompt: 'Use a TOOL to check the weather in Sunnyvale.', slowPrompt: 'Tell me a long story, SLOW please.' },
    scenarios: (state) => {
      const gen = (llm: LlmProvider, content: string, o: { tools?: ToolSchema[]; signal?: AbortSignal } = {}) => llm.generate({
        messages: [{ role: 'system', content: 'You are a conformance test.' }, { role: 'user', content }],
        ...(state().fixtures.model ? { model: state().fixtures.model } : {}), ...o,
      });

      it('streams text deltas and ends with one done delta', async () => {
        const deltas = await collect(gen(state().instance, state().fixtures.textPrompt));
        const done = assertStream(deltas);
        assert.ok(deltas.some((d) => d.type === 'text' && d.text.length > 0), 'some text arrived');
        assert.equal(done.finishReason, 'stop');
      });

      it('returns whole tool calls for offered tools', async () => {
        const deltas = await collect(gen(state().instance, state().fixtures.toolPrompt, { tools: [TOOL] }));
        const done = assertStream(deltas);
        const calls = deltas.filter((d): d is Extract<LlmDelta, { type: 'tool_call' }> => d.type === 'tool_call');
        assert.ok(calls.length > 0, 'a tool_call delta arrived');
        for (const { call } of calls) {
          assert.ok(call.id.length > 0);
          assert.equal(call.type, 'function');
          assert.equal(call.function.name, TOOL.name);
          const args: unknown = JSON.parse(call.function.arguments);
          assert.ok(typeof args === 'object' && args !== null && !Array.isArray(args), 'arguments are a JSON object');
        }
        assert.equal(done.finishReason, 'tool_calls');
      });

      const noContent = (deltas: LlmDelta[]) => {
        assert.deepEqual(deltas.filter((d) => d.type !== 'done'), [], 'no text or tool call after the abort');
      };

      it('stops at once when the signal is already aborted (rejects, or ends without content)', async function () {
        const before = state().fixtures.vendorRequests?.().length;
        const r = await collect(gen(state().instance, state().fixtures.textPrompt, { signal: AbortSignal.abort() })).then((d) => d, (e: unknown) => e);
        if (Array.isArray(r)) noContent(r as LlmDelta[]);
        const seen = state().fixtures.vendorRequests;
        if (!seen || before === undefined) { this.skip(); return; }
        // Either no request went out, or the one that did was closed before its answer completed.
        const sent = seen().slice(before);
        assert.ok(sent.every((q) => !q.completed), 'a request made with an aborted signal was answered in full');
      });

      it('ends the stream when the signal is aborted mid-stream: no delta after the abort, and the vendor sees the request closed', async function () {
        const seen = state().fixtures.vendorRequests;
        const before = seen?.().length ?? 0;
        const ctl = new AbortController();
        let beforeAbort = 0;
        const afterAbort: LlmDelta[] = [];
        try {
          for await (const d of gen(state().instance, state().fixtures.slowPrompt, { signal: ctl.signal })) {
            if (ctl.signal.aborted) { afterAbort.push(d); continue; }
            if (d.type === 'text') { beforeAbort++; ctl.abort(); }
          }
        } catch {
          // Ending by rejection is as good as ending quietly: the point is that iteration stops.
        }
        assert.ok(beforeAbort >= 1, 'some text arrived before the abort');
        noContent(afterAbort);
        if (!seen) { this.skip(); return; }
        await waitFor(() => seen().length > before && seen()[before]!.closedByClient, { timeoutMs: 2000, what: 'the vendor to see the aborted request closed' });
        assert.equal(seen()[before]!.completed, false, 'the vendor finished the answer anyway');
      });

      faultScenarios(state, 'generate', (llm, signal) => collect(gen(llm, state().fixtures.textPrompt, { signal })), { quietAbort: noContent });
    },
  });
}
