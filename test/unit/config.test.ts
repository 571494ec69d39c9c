import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, missingProviderKeys } from '../../core/config.js';
import { isServiceLaneError } from '../../core/errors.js';

const KEY = Buffer.alloc(32, 1).toString('base64');
const SECRET = 'unit-test-secret-unit-test-secret-0000';

function variablesOf(fn: () => unknown): string[] {
  try { fn(); } catch (e) {
    assert.ok(isServiceLaneError(e), String(e));
    assert.equal(e.code, 'CFG_ERR_ENV_INVALID');
    return (e.details as { variables: string[] }).variables;
  }
  return assert.fail('expected CFG_ERR_ENV_INVALID');
}

describe('loadConfig (environment contract)', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-cfg-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('defaults to role all, port 3000, embedded Postgres and Postgres-backed state', () => {
    const c = loadConfig({}, dir);
    assert.equal(c.role, 'all');
    assert.equal(c.port, 3000);
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.redisUrl, undefined);
    assert.equal(c.embeddedPgPort, 54329);
    assert.equal(c.dataDir, path.join(dir, '.data'));
    assert.equal(c.publicBaseUrl, 'http://localhost:3000');
    assert.equal(c.trustProxyHops, false);
    assert.equal(c.adminRateLimitPerMin, 600);
    assert.equal(c.production, false);
  });

  it('generates dev secrets into DATA_DIR once and reuses them on the next start', () => {
    const a = loadConfig({ DATA_DIR: 'd' }, dir);
    assert.equal(a.jwt.generatedDevSecret, true);
    assert.equal(a.credentialsKey.length, 32);
    assert.equal((fs.statSync(path.join(dir, 'd', 'dev-jwt-secret')).mode & 0o777), 0o600);
    const b = loadConfig({ DATA_DIR: 'd' }, dir);
    assert.equal(b.jwt.secret, a.jwt.secret);
    assert.deepEqual(b.credentialsKey, a.credentialsKey);
  });

  it('never generates secrets outside the all role or in production, and names each missing one', () => {
    for (const env of [{ ROLE: 'api' }, { NODE_ENV: 'production' }]) {
      const vars = variablesOf(() => loadConfig(env, dir));
      assert.ok(vars.some((v) => v.startsWith('ADMIN_JWT_SECRET')), vars.join());
      assert.ok(vars.some((v) => v.startsWith('CREDENTIALS_KEY')), vars.join());
    }
    assert.equal(fs.existsSync(path.join(dir, '.data')), false);
  });

  it('reports every bad variable at once', () => {
    const vars = variablesOf(() => loadConfig({
      ROLE: 'admin', PORT: '70000', DATABASE_URL: 'mysql://x', REDIS_URL: 'http://x', PUBLIC_BASE_URL: 'ftp://x', LOG_LEVEL: 'loud',
      ADMIN_JWT_SECRET: 'short', CREDENTIALS_KEY: 'c2hvcnQ=', TWILIO_ACCOUNT_SID: 'nope', EMBEDDED_PG_PORT: '0',
      TRUST_PROXY_HOPS: 'true', ADMIN_RATE_LIMIT_PER_MIN: '0', OPENAI_BASE_URL: 'not a url',
    }, dir));
    for (const name of ['ROLE', 'PORT', 'DATABASE_URL', 'REDIS_URL', 'PUBLIC_BASE_URL', 'LOG_LEVEL', 'ADMIN_JWT_SECRET', 'CREDENTIALS_KEY',
      'TWILIO_ACCOUNT_SID', 'EMBEDDED_PG_PORT', 'TRUST_PROXY_HOPS', 'ADMIN_RATE_LIMIT_PER_MIN', 'OPENAI_BASE_URL']) {
      assert.ok(vars.some((v) => v.startsWith(name)), `${name} missing from: ${vars.join('; ')}`);
    }
  });

  it('reads the production contract: URLs, keys, proxy hops and rate limit', () => {
    const c = loadConfig({
      ROLE: 'voice', NODE_ENV: 'production', PORT: '8080', DATABASE_URL: 'postgres://u:p@db:5432/sl', REDIS_URL: 'redis://cache:6379',
      PUBLIC_BASE_URL: 'https://voice.example.com/', ADMIN_JWT_SECRET: SECRET, CREDENTIALS_KEY: KEY, TRUST_PROXY_HOPS: '2',
      ADMIN_RATE_LIMIT_PER_MIN: '120', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 't', OPENAI_API_KEY: 'k', DEEPGRAM_API_KEY: 'k',
      PLUGIN_PACKAGES: ' @acme/crm-foo , servicelane-plugin-bar ',
    }, dir);
    assert.equal(c.role, 'voice');
    assert.equal(c.publicBaseUrl, 'https://voice.example.com');
    assert.equal(c.trustProxyHops, 2);
    assert.equal(c.adminRateLimitPerMin, 120);
    assert.deepEqual(c.pluginPackages, ['@acme/crm-foo', 'servicelane-plugin-bar']);
    assert.deepEqual(missingProviderKeys(c), []);
    assert.equal(fs.existsSync(path.join(dir, '.data')), false, 'nothing is written when everything is set');
  });

  it('accepts a public key instead of a secret', () => {
    const c = loadConfig({ ROLE: 'api', ADMIN_JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\n…', CREDENTIALS_KEY: KEY }, dir);
    assert.equal(c.jwt.secret, undefined);
    assert.ok(c.jwt.publicKey);
  });

  it('lists the provider keys a live call still needs', () => {
    const c = loadConfig({ ADMIN_JWT_SECRET: SECRET, CREDENTIALS_KEY: KEY, OPENAI_API_KEY: 'k' }, dir);
    assert.deepEqual(missingProviderKeys(c), ['DEEPGRAM_API_KEY', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN']);
  });
});
