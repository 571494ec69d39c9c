// The daily rollup (exactly once, re-runnable, local days across a DST change) and the usage admin API
// (tenant and platform views, day/month granularity, CSV, tenant isolation) on a real platform and database.
// Usage rows are inserted as the recorder writes them; the code under test is the rollup and the routes.
import assert from 'node:assert/strict';
import request from 'supertest';
import type express from 'express';
import { createHttpApp } from '../../core/app.js';
import { signDevToken, type AdminRole } from '../../core/admin-api/auth.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const A = '/admin/v1';
let seq = 0;

interface UsageInput { startedAt: string; ms: number; direction?: 'inbound' | 'outbound'; prompt?: number; completion?: number; chars?: number; tools?: number; stt?: string }

describe('usage rollup and admin API (integration)', function () {
  this.timeout(60_000);
  let tp: TestPlatform;
  let app: express.Express;
  let la: string; // America/Los_Angeles
  let utc: string;
  const token = (role: AdminRole, tenant?: string) => signDevToken({ secret: tp.cfg.jwt.secret!, role, tenant, sub: `test-${role}` });
  const get = (path: string, tok: string) => request(app).get(`${A}${path}`).set('Authorization', `Bearer ${tok}`);

  async function addUsage(tenantId: string, u: UsageInput): Promise<void> {
    const callSid = `CA${String(++seq).padStart(32, '0')}`;
    await tp.p.tenants.withTenant(tenantId, async (trx) => {
      const [call] = await trx('calls').insert({ call_sid: callSid, direction: u.direction ?? 'inbound', status: 'completed', status_rank: 9, started_at: new Date(u.startedAt) }).returning('id');
      const start = new Date(u.startedAt);
      await trx('call_usage').insert({
        call_id: call.id, call_sid: callSid, direction: u.direction ?? 'inbound', started_at: start, ended_at: new Date(start.getTime() + u.ms), telephony_ms: u.ms,
        stt_audio_ms: Math.floor(u.ms / 2), llm_prompt_tokens: u.prompt ?? 100, llm_completion_tokens: u.completion ?? 10, llm_requests: 1,
        tts_chars: u.chars ?? 50, tool_calls: u.tools ?? 1, stt_provider: u.stt ?? 'stt-deepgram', llm_provider: 'llm-openai', llm_model: 'gpt-4o-mini', tts_provider: 'tts-deepgram',
      });
    });
  }
  const daily = (tenantId: string) => tp.p.db('platform.usage_daily').where({ tenant_id: tenantId })
    .orderBy(['day', 'stt_provider']).select(tp.p.db.raw("to_char(day, 'YYYY-MM-DD') as day"), 'stt_provider', 'calls_inbound', 'calls_outbound', 'inbound_ms', 'outbound_ms', 'llm_prompt_tokens', 'tts_chars', 'tool_calls');

  before(async () => {
    tp = await startTestPlatform();
    app = createHttpApp(tp.p);
    la = (await tp.p.tenants.create({ name: 'LA Motors', slug: 'la-motors', config: demoConfig() })).id;
    utc = (await tp.p.tenants.create({ name: 'UTC Motors', slug: 'utc-motors', config: { ...demoConfig(), timezone: 'UTC' } })).id;
    // 2026-11-01 is the day US clocks fall back: 25 hours long in Los Angeles (00:00 PDT = 07:00Z .. 00:00 PST = 08:00Z next day).
    await addUsage(la, { startedAt: '2026-11-01T07:30:00Z', ms: 60_000 }); // 00:30 PDT, Nov 1
    await addUsage(la, { startedAt: '2026-11-02T07:30:00Z', ms: 120_000, direction: 'outbound' }); // 23:30 PST, still Nov 1 (the 25th hour)
    await addUsage(la, { startedAt: '2026-11-02T08:30:00Z', ms: 30_000, stt: 'stt-other' }); // 00:30 PST, Nov 2
    await addUsage(la, { startedAt: '2026-11-01T06:59:00Z', ms: 5_000 }); // 23:59 PDT, Oct 31 (a UTC-day grouping would put it on Nov 1)
    await addUsage(utc, { startedAt: '2026-11-01T07:30:00Z', ms: 10_000 });
  });
  after(async () => { await tp?.close(); });

  describe('rollup', () => {
    it('groups by the dealership\'s local day across the DST change, one row per provider combination', async () => {
      await tp.p.usageRollup.rollupTenant({ tenantId: la, zone: 'America/Los_Angeles', fromDay: '2026-10-31', toDay: '2026-11-02' });
      assert.deepEqual((await daily(la)).map((r) => [r.day, r.stt_provider, r.calls_inbound, r.calls_outbound, Number(r.inbound_ms), Number(r.outbound_ms)]), [
        ['2026-10-31', 'stt-deepgram', 1, 0, 5_000, 0],
        ['2026-11-01', 'stt-deepgram', 1, 1, 60_000, 120_000],
        ['2026-11-02', 'stt-other', 1, 0, 30_000, 0],
      ]);
    });

    it('is idempotent: re-running, and three runs at once, leave the same rows; a late call is added, not doubled', async () => {
      const once = await daily(la);
      await tp.p.usageRollup.rollupTenant({ tenantId: la, zone: 'America/Los_Angeles', fromDay: '2026-10-31', toDay: '2026-11-02' });
      assert.deepEqual(await daily(la), once);
      await Promise.all([1, 2, 3].map(() => tp.p.usageRollup.rollupTenant({ tenantId: la, zone: 'America/Los_Angeles', fromDay: '2026-10-31', toDay: '2026-11-02' })));
      assert.deepEqual(await daily(la), once);
      await addUsage(la, { startedAt: '2026-11-01T20:00:00Z', ms: 1_000, tools: 4 });
      await tp.p.usageRollup.rollupTenant({ tenantId: la, zone: 'America/Los_Angeles', fromDay: '2026-11-01', toDay: '2026-11-01' });
      const nov1 = (await daily(la)).find((r) => r.day === '2026-11-01')!;
      assert.equal(nov1.calls_inbound, 2);
      assert.equal(Number(nov1.inbound_ms), 61_000);
      assert.equal(Number(nov1.tool_calls), 1 + 1 + 4);
      assert.equal((await daily(la)).length, 3, 'the other days are untouched');
    });

    it('rollupAll covers every active tenant\'s recent local days without touching older ones', async () => {
      const before = await daily(la);
      const now = new Date();
      await addUsage(utc, { startedAt: now.toISOString(), ms: 7_000 });
      const r = await tp.p.usageRollup.rollupAll();
      assert.equal(r.failed, 0);
      assert.ok(r.tenants >= 2);
      const today = now.toISOString().slice(0, 10);
      const row = (await daily(utc)).find((x) => x.day === today);
      assert.equal(Number(row?.inbound_ms), 7_000);
      assert.deepEqual(await daily(la), before, 'November 2026 is outside the last two days');
    });
  });

  describe('API', () => {
    it('tenant usage by local day, from the tenant\'s own call rows', async () => {
      const res = await get(`/tenants/${la}/usage?from=2026-10-31&to=2026-11-02&granularity=day`, token('tenant_admin', la));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.timezone, 'America/Los_Angeles');
      assert.deepEqual(res.body.items.map((i: { period: string; calls: number; inboundSeconds: number; outboundSeconds: number }) => [i.period, i.calls, i.inboundSeconds, i.outboundSeconds]), [
        ['2026-10-31', 1, 5, 0], ['2026-11-01', 3, 61, 120], ['2026-11-02', 1, 30, 0],
      ]);
      const providers = res.body.byProvider.map((p: { sttProvider: string; calls: number }) => [p.sttProvider, p.calls]);
      assert.deepEqual(providers, [['stt-deepgram', 4], ['stt-other', 1]]);
    });

    it('granularity=month sums the local month (the Oct 31 call stays in October)', async () => {
      const res = await get(`/tenants/la-motors/usage?from=2026-10-01&to=2026-11-30&granularity=month`, token('platform_admin'));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.items.map((i: { period: string; calls: number; toolCalls: number; llmPromptTokens: number }) => [i.period, i.calls, i.toolCalls, i.llmPromptTokens]), [
        ['2026-10', 1, 1, 100], ['2026-11', 4, 7, 400],
      ]);
    });

    it('exports CSV with a header row and one line per period', async () => {
      const res = await get(`/tenants/${la}/usage?from=2026-10-31&to=2026-11-02&format=csv`, token('tenant_admin', la));
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type']), /^text\/csv/);
      assert.match(String(res.headers['content-disposition']), /attachment; filename="usage-la-motors-day\.csv"/);
      const lines = res.text.trimEnd().split('\r\n');
      assert.equal(lines[0], 'period,calls,callsInbound,callsOutbound,inboundSeconds,outboundSeconds,sttAudioSeconds,llmPromptTokens,llmCompletionTokens,ttsCharacters,toolCalls');
      assert.equal(lines.length, 4);
      assert.equal(lines[2], '2026-11-01,3,2,1,61,120,90.5,300,30,150,6');
    });

    it('tenant isolation: tenant admin of A gets 403 on B\'s usage and on the platform summary, and the refusal is audited', async () => {
      const res = await get(`/tenants/${utc}/usage`, token('tenant_admin', la));
      assert.equal(res.status, 403);
      assert.equal(res.body.error.code, 'ADM_ERR_FORBIDDEN');
      assert.ok(!JSON.stringify(res.body).includes('inboundSeconds'));
      const bySlug = await get('/tenants/utc-motors/usage', token('tenant_admin', la));
      assert.equal(bySlug.status, 403);
      const summary = await get('/usage', token('tenant_admin', la));
      assert.equal(summary.status, 403);
      const audited = await tp.p.db('platform.audit_log').where({ action: 'forbidden', tenant_id: utc }).count<{ n: string }[]>('* as n');
      assert.ok(Number(audited[0]!.n) >= 1);
    });

    it('platform summary per tenant from the rollup, honouring granularity, as JSON and CSV', async () => {
      await tp.p.usageRollup.rollupTenant({ tenantId: utc, zone: 'UTC', fromDay: '2026-11-01', toDay: '2026-11-01' });
      const day = await get('/usage?from=2026-10-31&to=2026-11-02&granularity=day', token('platform_admin'));
      assert.equal(day.status, 200, JSON.stringify(day.body));
      const rows = day.body.items.map((i: { tenantId: string; period: string; calls: number }) => [i.tenantId === la ? 'la' : i.tenantId === utc ? 'utc' : i.tenantId, i.period, i.calls]);
      assert.deepEqual(rows, [['la', '2026-10-31', 1], ['la', '2026-11-01', 3], ['utc', '2026-11-01', 1], ['la', '2026-11-02', 1]]);
      const month = await get('/usage?from=2026-10-01&to=2026-11-30&granularity=month', token('platform_admin'));
      const m = month.body.items.map((i: { tenantId: string; period: string; calls: number; outboundSeconds: number }) => [i.tenantId === la ? 'la' : 'utc', i.period, i.calls, i.outboundSeconds]);
      assert.deepEqual(m, [['la', '2026-10', 1, 0], ['la', '2026-11', 4, 120], ['utc', '2026-11', 1, 0]]);
      const csv = await get('/usage?from=2026-10-01&to=2026-11-30&granularity=month&format=csv', token('platform_admin'));
      assert.match(String(csv.headers['content-type']), /^text\/csv/);
      assert.equal(csv.text.split('\r\n')[0]!.split(',').slice(0, 3).join(','), 'tenantId,period,calls');
      assert.equal(csv.text.trimEnd().split('\r\n').length, 4);
    });

    it('refuses bad queries with ADM_ERR_VALIDATION naming the parameter', async () => {
      const bad = [
        ['/tenants/' + la + '/usage?granularity=week', '/granularity'],
        ['/tenants/' + la + '/usage?from=yesterday', '/from'],
        ['/tenants/' + la + '/usage?from=2026-11-02&to=2026-11-01', '/to'],
        ['/tenants/' + la + '/usage?from=2024-01-01&to=2026-01-01', '/to'],
        ['/usage?from=2026-13-01', '/to'],
        ['/usage?from=2026-11-01&to=2026-10-01', '/to'],
        ['/usage?tenant=x', '/'],
      ] as const;
      for (const [path, where] of bad) {
        const res = await get(path, token('platform_admin'));
        assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error.code, 'ADM_ERR_VALIDATION');
        assert.ok(res.body.error.details.errors.some((e: { path: string }) => e.path === where), `${path} names ${where}: ${JSON.stringify(res.body.error.details)}`);
      }
    });
  });
});
