import assert from 'node:assert/strict';
import request from 'supertest';
import type express from 'express';
import { createHttpApp } from '../../core/app.js';
import { signDevToken } from '../../core/admin-api/auth.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const A = '/admin/v1';
const LIMIT = 5;
const minute = () => Math.floor(Date.now() / 60_000);

/**
 * Counters use wall-clock minute windows; a run that straddles a minute boundary legitimately resets, so it
 * is repeated once with fresh keys (`n` makes tokens and addresses unique per attempt).
 */
async function inOneWindow(fn: (n: number) => Promise<void>): Promise<void> {
  for (let n = 0; ; n++) {
    const start = minute();
    try { await fn(n); return; } catch (e) { if (minute() === start || n > 0) throw e; }
  }
}

for (const state of ['redis', 'postgres'] as const) {
  describe(`admin API rate limiting on ${state} state (integration)`, function () {
    this.timeout(60_000);
    let tp: TestPlatform;
    let app: express.Express;
    const tok = (sub: string) => signDevToken({ secret: tp.cfg.jwt.secret!, role: 'platform_admin', sub });
    before(async () => {
      // One proxy hop so each test can speak from its own client address through X-Forwarded-For.
      tp = await startTestPlatform({ state, env: { ADMIN_RATE_LIMIT_PER_MIN: String(LIMIT), TRUST_PROXY_HOPS: '1' } });
      app = createHttpApp(tp.p);
    });
    after(async () => { await tp?.close(); });

    it('limits one token across client addresses with 429 ADM_ERR_RATE_LIMITED', () => inOneWindow(async (n) => {
      const t = tok(`busy-token-${n}`);
      const codes: number[] = [];
      for (let i = 0; i < LIMIT + 2; i++) {
        const res = await request(app).get(`${A}/tenants`).set('X-Forwarded-For', `10.${n}.1.${i + 1}`).set('Authorization', `Bearer ${t}`);
        codes.push(res.status);
        if (res.status === 429) assert.equal(res.body.error.code, 'ADM_ERR_RATE_LIMITED');
      }
      assert.deepEqual(codes, [...Array(LIMIT).fill(200), 429, 429]);
      const other = await request(app).get(`${A}/tenants`).set('X-Forwarded-For', `10.${n}.1.99`).set('Authorization', `Bearer ${tok(`calm-token-${n}`)}`);
      assert.equal(other.status, 200, 'another token is not affected');
    }));

    it('limits one client address across tokens, before authentication', () => inOneWindow(async (n) => {
      const codes: number[] = [];
      for (let i = 0; i < LIMIT + 1; i++) {
        const res = await request(app).get(`${A}/tenants`).set('X-Forwarded-For', `10.${n}.2.1`).set('Authorization', `Bearer ${i % 2 ? tok(`t${n}-${i}`) : 'bad.token.here'}`);
        codes.push(res.status);
      }
      assert.deepEqual(codes, [401, 200, 401, 200, 401, 429]);
      assert.equal((await request(app).get(`${A}/tenants`).set('X-Forwarded-For', `10.${n}.2.2`).set('Authorization', `Bearer ${tok(`fresh-${n}`)}`)).status, 200);
    }));

    it('keeps no tenant row and no audit row for a rate-limited write', () => inOneWindow(async (n) => {
      const t = tok(`writer-${n}`);
      for (let i = 0; i < LIMIT; i++) await request(app).get(`${A}/tenants`).set('X-Forwarded-For', `10.${n}.3.1`).set('Authorization', `Bearer ${t}`);
      const res = await request(app).post(`${A}/tenants`).set('X-Forwarded-For', `10.${n}.3.1`).set('Authorization', `Bearer ${t}`).send({ name: 'Late', config: {} });
      assert.equal(res.status, 429);
      assert.equal(Number(((await tp.p.db('platform.tenants').count('* as n')) as { n: number }[])[0]!.n), 0);
      assert.equal(Number(((await tp.p.db('platform.audit_log').count('* as n')) as { n: number }[])[0]!.n), 0);
    }));
  });
}
