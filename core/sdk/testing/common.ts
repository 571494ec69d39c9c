import assert from 'node:assert/strict';
import type { AnySchema, ValidateFunction } from 'ajv';
import type { AnyPluginManifest, PluginKind, PluginKinds } from '../define-plugin.js';
import { isPluginError } from '../errors.js';
import { createAjv } from '../json-schema.js';
import { checkManifest, missingMethods } from '../manifest-check.js';
import { createTestContext, type LoggedLine, type TestContext } from './context.js';
import { FAULT_EXPECTATIONS, type ConformanceHarness, type FaultHooks, type HarnessSetup, type VendorFault } from './harness.js';

const ajv = createAjv({ allErrors: true, useDefaults: true, strict: false });
const compiled = new WeakMap<object, ValidateFunction>();

/** Compiles (once) and returns an ajv validator with the same options the registry uses. */
export function validatorFor(schema: object): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema as AnySchema);
    compiled.set(schema, v);
  }
  return v;
}

function hasNull(v: unknown, path = ''): string | null {
  if (v === null) return path || '/';
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) { const p = hasNull(v[i], `${path}/${i}`); if (p) return p; }
  } else if (typeof v === 'object' && v !== undefined) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) { const p = hasNull(x, `${path}/${k}`); if (p) return p; }
  }
  return null;
}

/**
 * Asserts `value` is a valid DTO: it matches `schema` (no extra vendor fields) and uses absent fields, not
 * `null`, for "unknown".
 */
export function assertDto(schema: object, value: unknown, label: string): void {
  const v = validatorFor(schema);
  if (!v(value)) assert.fail(`${label} is not a valid DTO: ${ajv.errorsText(v.errors)}`);
  const nullAt = hasNull(value);
  if (nullAt) assert.fail(`${label} has null at ${nullAt}: omit unknown fields instead`);
}

/** Asserts that no log line carries `values` (names, phones, VINs) outside a `pii` field. */
export function assertNoPiiInLogs(logs: readonly LoggedLine[], values: readonly string[]): void {
  const needles = values.filter((v) => v.length >= 4);
  for (const l of logs) {
    const { pii: _pii, ...rest } = l.obj;
    const text = `${l.msg ?? ''} ${JSON.stringify(rest)}`;
    for (const n of needles) {
      if (text.includes(n)) assert.fail(`a ${l.level} log line carries PII outside "pii": ${JSON.stringify(l.msg)}`);
    }
  }
}

/** Awaits `p` and returns the PluginError it rejects with (fails on success or a non-PluginError). */
export async function expectPluginError(p: Promise<unknown>, label: string): Promise<import('../errors.js').PluginError> {
  try {
    await p;
  } catch (e) {
    if (!isPluginError(e)) assert.fail(`${label} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)} instead of a PluginError`);
    return e;
  }
  assert.fail(`${label} resolved; expected a PluginError`);
}

/** Awaits `p` and asserts it rejects (with anything). */
export async function expectRejection(p: Promise<unknown>, label: string): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail(`${label} resolved; expected a rejection`);
}

/** Polls `pred` until true, for event-driven plugins (STT finals, TTS flushes). */
export async function waitFor(pred: () => boolean, o: { timeoutMs: number; what: string }): Promise<void> {
  const end = Date.now() + o.timeoutMs;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${o.what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What a kind suite's scenarios see once the instance exists. */
export interface SuiteState<T, F> {
  instance: T;
  ctx: TestContext;
  fixtures: F;
  faults?: FaultHooks;
  settings: unknown;
}

/**
 * The frame every kind suite shares: manifest checks (no setup needed), then `setup()` → create the instance
 * the way the registry does (settings validated with defaults applied) → the kind's scenarios → close and
 * cleanup. Faults are cleared after every scenario.
 */
export function describeConformance<K extends PluginKind, F extends object>(o: {
  kind: K;
  manifest: AnyPluginManifest;
  harness: ConformanceHarness<F>;
  defaults: F;
  scenarios: (state: () => SuiteState<PluginKinds[K], F>) => void;
}): void {
  const { kind, manifest, harness } = o;
  describe(`${String(manifest.id)} conforms to the ${kind} contract`, function () {
    this.timeout(30_000);

    describe('manifest', () => {
      it('has a valid shape and the apiVersion this core speaks', () => {
        assert.deepEqual(checkManifest(manifest), []);
        assert.equal(manifest.kind, kind);
      });
      it('accepts the harness settings and credentials under its own schemas', () => {
        const settings = structuredClone(harness.settings ?? {});
        const vs = validatorFor(manifest.settingsSchema);
        if (!vs(settings)) assert.fail(`settings fail settingsSchema: ${ajv.errorsText(vs.errors)}`);
        assert.deepEqual(manifest.validate?.(settings) ?? [], []);
        if (manifest.credentialsSchema) {
          const vc = validatorFor(manifest.credentialsSchema);
          if (!vc(structuredClone(harness.credentials ?? {}))) assert.fail(`credentials fail credentialsSchema: ${ajv.errorsText(vc.errors)}`);
        }
      });
      it('describes settings as a JSON object schema', () => {
        assert.equal(validatorFor(manifest.settingsSchema)('not an object'), false);
      });
    });

    describe('instance', () => {
      let setup: HarnessSetup<F> | undefined;
      let state: SuiteState<PluginKinds[K], F> | undefined;

      before(async () => {
        setup = await harness.setup();
        const ctx = createTestContext({ pluginId: manifest.id, overrides: setup.ctxOverrides });
        const settings = structuredClone(setup.settings ?? harness.settings ?? {});
        const vs = validatorFor(manifest.settingsSchema);
        if (!vs(settings)) assert.fail(`setup settings fail settingsSchema: ${ajv.errorsText(vs.errors)}`);
        const credentials = structuredClone(setup.credentials ?? harness.credentials ?? {});
        const instance = await manifest.create(ctx, { settings, credentials }) as PluginKinds[K];
        state = { instance, ctx, settings, faults: setup.faults, fixtures: { ...o.defaults, ...harness.fixtures, ...setup.fixtures } as F };
      });
      afterEach(async () => {
        await state?.faults?.clear();
      });
      after(async () => {
        try {
          await (state?.instance as { close?: () => Promise<void> } | undefined)?.close?.();
        } finally {
          state?.ctx.abort();
          await setup?.cleanup();
        }
      });

      it(`has every ${kind} method`, () => {
        assert.deepEqual(missingMethods(kind, state!.instance), []);
      });

      o.scenarios(() => {
        if (!state) throw new Error('the harness setup failed; see the before hook');
        return state;
      });
    });
  });
}

/**
 * Registers one scenario per {@link VendorFault}: with the fault switched on, `call` must reject with a
 * PluginError of the expected category and retryability. Skipped at run time for faults the harness can't
 * produce (a plugin without a vendor).
 */
export function faultScenarios<T, F, R>(state: () => SuiteState<T, F>, label: string, call: (instance: T, signal: AbortSignal | undefined) => Promise<R>, o: {
  /**
   * Streaming kinds may end quietly when the caller aborts (barge-in is the caller's choice, not a failure).
   * When set, a `timeout` call that resolves is accepted if this check on its result passes.
   */
  quietAbort?: (result: R) => void;
} = {}): void {
  for (const fault of Object.keys(FAULT_EXPECTATIONS) as VendorFault[]) {
    const want = FAULT_EXPECTATIONS[fault];
    it(`surfaces a vendor ${fault} failure in ${label} as PluginError(${want.category})`, async function () {
      const s = state();
      if (!s.faults?.supported.includes(fault)) { this.skip(); return; }
      await s.faults.set(fault);
      // A hung vendor is only noticed through the signal: the call's own budget stands in for core's timeout.
      const signal = fault === 'timeout' ? AbortSignal.timeout(500) : undefined;
      const p = call(s.instance, signal);
      if (fault === 'timeout' && o.quietAbort) {
        const r = await p.then((v) => ({ ok: true as const, v }), (e: unknown) => ({ ok: false as const, e }));
        if (r.ok) { o.quietAbort(r.v); return; }
        if (!isPluginError(r.e)) assert.fail(`${label} threw ${String(r.e)} instead of a PluginError`);
        assert.equal(r.e.category, 'timeout');
        return;
      }
      const e = await expectPluginError(p, label);
      assert.equal(e.category, want.category, `category for ${fault}: ${e.message}`);
      assert.equal(e.retryable, want.retryable, `retryable for ${fault}`);
    });
  }
}
