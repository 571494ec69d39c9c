import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import request from 'supertest';
import type express from 'express';
import jwt from 'jsonwebtoken';
import { createHttpApp } from '../../core/app.js';
import { keyIdFor, signDevToken } from '../../core/admin-api/auth.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const A = '/admin/v1';
const b64url = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Builds a token by hand, so the tests can make ones no well-behaved library would sign. */
function forge(header: Record<string, unknown>, payload: Record<string, unknown>, hmacKey?: string): string {
  const head = `${b64url(header)}.${b64url(payload)}`;
  const sig = hmacKey === undefined ? '' : crypto.createHmac('sha256', hmacKey).update(head).digest('base64url');
  return `${head}.${sig}`;
}
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({ iss: 'servicelane', aud: 'servicelane', sub: 'attacker', role: 'platform_admin', iat: now(), exp: now() + 600, ...over });

describe('admin API authentication (integration)', function () {
  this.timeout(60_000);

  describe('with an HS256 secret', () => {
    let tp: TestPlatform;
    let app: express.Express;
    let secret: string;
    const counts = async () => {
      const one = async (t: string) => Number(((await tp.p.db(t).count('* as n')) as { n: number }[])[0]!.n);
      const schemas = Number((await tp.p.db.raw(`select count(*)::int as n from pg_namespace where nspname like 't\\_%'`)).rows[0].n);
      return { tenants: await one('platform.tenants'), audit: await one('platform.audit_log'), schemas };
    };
    before(async () => {
      tp = await startTestPlatform();
      app = createHttpApp(tp.p);
      secret = tp.cfg.jwt.secret!;
    });
    after(async () => { await tp?.close(); });

    it('accepts a well-formed token and creates the tenant', async () => {
      const res = await request(app).post(`${A}/tenants`).set('Authorization', `Bearer ${signDevToken({ secret, role: 'platform_admin' })}`).send({ name: 'Ok', config: demoConfig() });
      assert.equal(res.status, 201);
    });

    it('accepts a token without kid and one expired within the 30 s clock tolerance', async () => {
      for (const t of [forge({ alg: 'HS256', typ: 'JWT' }, claims(), secret), forge({ alg: 'HS256' }, claims({ exp: now() - 10 }), secret)]) {
        assert.equal((await request(app).get(`${A}/tenants`).set('Authorization', `Bearer ${t}`)).status, 200);
      }
    });

    const bad: [string, () => string][] = [
      ['alg:none', () => forge({ alg: 'none', typ: 'JWT' }, claims())],
      ['alg:none with a signature', () => forge({ alg: 'none' }, claims(), 'whatever')],
      ['a wrong key', () => forge({ alg: 'HS256' }, claims(), 'another-secret-another-secret-0000')],
      ['a wrong audience', () => forge({ alg: 'HS256' }, claims({ aud: 'admin-api' }), secret)],
      ['a wrong issuer', () => forge({ alg: 'HS256' }, claims({ iss: 'evil' }), secret)],
      ['an expired token', () => forge({ alg: 'HS256' }, claims({ exp: now() - 120 }), secret)],
      ['a future nbf', () => forge({ alg: 'HS256' }, claims({ nbf: now() + 300 }), secret)],
      ['an unknown kid', () => forge({ alg: 'HS256', kid: 'rotated-out-key' }, claims(), secret)],
      ['no exp', () => forge({ alg: 'HS256' }, claims({ exp: undefined }), secret)],
      ['no role', () => forge({ alg: 'HS256' }, claims({ role: undefined }), secret)],
      ['an unknown role', () => forge({ alg: 'HS256' }, claims({ role: 'root' }), secret)],
      ['tenant_admin without a tenant', () => forge({ alg: 'HS256' }, claims({ role: 'tenant_admin' }), secret)],
      ['an RS256 header on an HMAC signature', () => forge({ alg: 'RS256' }, claims(), secret)],
      ['garbage', () => 'not.a.token'],
    ];
    for (const [what, make] of bad) {
      it(`refuses ${what} with 401 and writes nothing`, async () => {
        const before = await counts();
        const res = await request(app).post(`${A}/tenants`).set('Authorization', `Bearer ${make()}`).send({ name: 'Nope', config: demoConfig() });
        assert.equal(res.status, 401);
        assert.equal(res.body.error.code, 'ADM_ERR_UNAUTHENTICATED');
        assert.deepEqual(await counts(), before);
      });
    }

    it('refuses a missing or non-bearer Authorization header with 401', async () => {
      for (const h of [undefined, 'Basic YWRtaW46YWRtaW4=', 'Bearer', `bearer ${signDevToken({ secret, role: 'platform_admin' })} extra`]) {
        const r = request(app).get(`${A}/tenants`);
        const res = await (h === undefined ? r : r.set('Authorization', h));
        assert.equal(res.status, 401, String(h));
        assert.equal(res.body.error.code, 'ADM_ERR_UNAUTHENTICATED');
      }
    });
  });

  describe('with an asymmetric public key', () => {
    for (const kind of ['rsa', 'ec'] as const) {
      describe(kind === 'rsa' ? 'RS256' : 'ES256', () => {
        let tp: TestPlatform;
        let app: express.Express;
        let privateKey: crypto.KeyObject;
        let publicPem: string;
        before(async () => {
          const kp = kind === 'rsa'
            ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
            : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
          privateKey = kp.privateKey;
          publicPem = kp.publicKey.export({ type: 'spki', format: 'pem' }).toString();
          tp = await startTestPlatform({ env: { ADMIN_JWT_SECRET: '', ADMIN_JWT_PUBLIC_KEY: publicPem } });
          app = createHttpApp(tp.p);
        });
        after(async () => { await tp?.close(); });
        const alg = kind === 'rsa' ? 'RS256' : 'ES256';

        it('accepts a token signed with the private key, with or without the key fingerprint as kid', async () => {
          for (const keyid of [undefined, keyIdFor(publicPem)]) {
            const t = jwt.sign({ role: 'platform_admin' }, privateKey, { algorithm: alg, issuer: 'servicelane', audience: 'servicelane', subject: 'ops', expiresIn: 300, ...(keyid ? { keyid } : {}) });
            assert.equal((await request(app).get(`${A}/tenants`).set('Authorization', `Bearer ${t}`)).status, 200);
          }
        });

        it('refuses HS256 signed with the public key (algorithm confusion) and writes nothing', async () => {
          const t = forge({ alg: 'HS256', typ: 'JWT' }, claims(), publicPem);
          const res = await request(app).post(`${A}/tenants`).set('Authorization', `Bearer ${t}`).send({ name: 'Confused', config: demoConfig() });
          assert.equal(res.status, 401);
          assert.equal(res.body.error.code, 'ADM_ERR_UNAUTHENTICATED');
          assert.equal(Number(((await tp.p.db('platform.tenants').count('* as n')) as { n: number }[])[0]!.n), 0);
        });

        it('refuses a token signed by another key, and one naming an unknown kid', async () => {
          const other = kind === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
          const wrongKey = jwt.sign({ role: 'platform_admin' }, other, { algorithm: alg, issuer: 'servicelane', audience: 'servicelane', subject: 'x', expiresIn: 300 });
          const wrongKid = jwt.sign({ role: 'platform_admin' }, privateKey, { algorithm: alg, issuer: 'servicelane', audience: 'servicelane', subject: 'x', expiresIn: 300, keyid: 'next-key' });
          for (const t of [wrongKey, wrongKid]) {
            const res = await request(app).get(`${A}/tenants`).set('Authorization', `Bearer ${t}`);
            assert.equal(res.status, 401);
            assert.equal(res.body.error.code, 'ADM_ERR_UNAUTHENTICATED');
          }
        });
      });
    }
  });
});
