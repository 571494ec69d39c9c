// The extensibility proof: a third-party plugin shipped as an npm-style package (examples/notify-webhook), loaded
// through PLUGIN_PACKAGES, passes its kind's conformance suite and works inside the platform, while importing
// nothing but `@servicelane/sdk` and Node built-ins.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPluginError, PluginError, type AnyPluginManifest, type NotifyProvider } from '../../core/sdk/index.js';
import { packageEntry, provideSdkSpecifier } from '../../core/registry/plugin-packages.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { startFakeWebhookReceiver, newWebhookSecret, type FakeWebhookReceiver } from '../fakes/webhook.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { testRegistry } from '../helpers/registry.js';
import { describePluginConformance } from './suites.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGE_DIR = path.join(ROOT, 'examples/notify-webhook');
const SECRET = newWebhookSecret();

// Imported the way the registry imports a PLUGIN_PACKAGES entry (same two functions), so the suite below can be
// registered at load time; the platform test further down checks the registry hands out this very object.
provideSdkSpecifier();
const manifest = ((await import(packageEntry(PACKAGE_DIR))) as { default: AnyPluginManifest }).default;

describePluginConformance(manifest, {
  settings: { url: 'http://127.0.0.1:9/hooks/servicelane' },
  credentials: { signingSecret: SECRET },
  async setup() {
    const fake = await startFakeWebhookReceiver({ secret: SECRET });
    return {
      settings: { url: fake.url },
      faults: {
        supported: ['auth', 'rate_limit', 'upstream', 'timeout'],
        set: (f) => (f === 'timeout' ? fake.setDown(true, 'timeout') : fake.setDown(true, 'error', { auth: 401, rate_limit: 429, upstream: 503 }[f])),
        clear: () => fake.setDown(false),
      },
      cleanup: () => fake.close(),
    };
  },
});

/** Every module specifier in a JavaScript file: static imports and re-exports, dynamic import(), require(). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const re of [/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\b(?:import|require)\s*\(\s*['"]([^'"]+)['"]\s*\)/g]) {
    for (const m of source.matchAll(re)) out.push(m[1]!);
  }
  return out;
}

describe('a third-party plugin package (examples/notify-webhook) loaded through PLUGIN_PACKAGES', function () {
  this.timeout(60_000);
  let tp: TestPlatform;
  let fake: FakeWebhookReceiver;

  before(async () => {
    fake = await startFakeWebhookReceiver({ secret: SECRET });
    tp = await startTestPlatform({ env: { PLUGIN_PACKAGES: PACKAGE_DIR } });
  });
  after(async () => {
    await tp?.close();
    await fake?.close();
  });

  it('imports only @servicelane/sdk and node: built-ins, and depends on no package', () => {
    const files = fs.readdirSync(PACKAGE_DIR).filter((f) => /\.(m?js|cjs|d\.ts)$/.test(f));
    assert.ok(files.includes('index.js'), 'the package has its entry module');
    const found = files.flatMap((f) => specifiers(fs.readFileSync(path.join(PACKAGE_DIR, f), 'utf8')).map((s) => ({ f, s })));
    assert.ok(found.some((x) => x.s === '@servicelane/sdk'), 'the grep sees the SDK import (it would see others)');
    const foreign = found.filter((x) => x.s !== '@servicelane/sdk' && !x.s.startsWith('node:') && x.s !== './index.js');
    assert.deepEqual(foreign, [], 'a plugin package reaches core only through @servicelane/sdk');
    const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(pkg.dependencies, undefined);
    assert.deepEqual(Object.keys(pkg.peerDependencies as object), ['@servicelane/sdk']);
  });

  it('is registered as a package by the platform, as the same manifest object the suite above ran', () => {
    const summary = tp.p.registry.list().find((p) => p.id === 'notify-webhook');
    assert.deepEqual(summary && { source: summary.source, kind: summary.kind, needsCredentials: summary.needsCredentials }, { source: `package:${PACKAGE_DIR}`, kind: 'notify', needsCredentials: true });
    assert.equal(tp.p.registry.manifest('notify-webhook'), manifest, 'one module instance: the registry and this test share it');
    assert.deepEqual(tp.p.registry.loadErrors(), []);
  });

  it('delivers a tenant\'s notification as a signed webhook, and its errors are core\'s PluginError class (one SDK instance)', async () => {
    const tenant = await tp.p.tenants.create({ name: 'Webhook Motors', config: { ...demoConfig(), plugins: { ...(demoConfig().plugins as object), notify: { plugin: 'notify-webhook', settings: { url: fake.url }, credentialsRef: 'webhook' } } } });
    await tp.p.tenants.putCredential(tenant.id, 'webhook', { signingSecret: SECRET });
    assert.deepEqual(await tp.p.registry.testConnection(tenant.id, 'notify').then((r) => ({ ok: r.ok, pluginId: r.pluginId })), { ok: true, pluginId: 'notify-webhook' });
    const notify = await tp.p.registry.get(tenant.id, 'notify') as NotifyProvider;
    const before = fake.deliveries.length;
    const sent = await notify.send({ to: 'advisor@webhook-motors.example', subject: 'Callback requested', text: 'Brake noise, call back after 3pm.' });
    const d = fake.deliveries.slice(before);
    assert.equal(d.length, 1);
    assert.equal(d[0]!.id, sent.messageId);
    assert.deepEqual((d[0]!.body as { type: string; data: unknown }).data, { to: 'advisor@webhook-motors.example', subject: 'Callback requested', text: 'Brake noise, call back after 3pm.' });

    fake.faults.failNext(1, 400);
    await assert.rejects(notify.send({ to: 'advisor@webhook-motors.example', subject: 's', text: 't' }), (e: unknown) => {
      assert.ok(e instanceof PluginError, 'the package threw the PluginError class core imports');
      assert.equal(e.category, 'invalid_request');
      return true;
    });
  });

  it('sends a resend of the same message (a retry after a timeout) under the same webhook-id, which the receiver takes once', async () => {
    const tenant = await tp.p.tenants.create({ name: 'Resend Motors', config: { ...demoConfig(), plugins: { ...(demoConfig().plugins as object), notify: { plugin: 'notify-webhook', settings: { url: fake.url }, credentialsRef: 'webhook' } } } });
    await tp.p.tenants.putCredential(tenant.id, 'webhook', { signingSecret: SECRET });
    const notify = await tp.p.registry.get(tenant.id, 'notify') as NotifyProvider;
    const before = fake.deliveries.length;
    const msg = { to: 'advisor@resend-motors.example', subject: 'Callback requested', text: 'Caller asked about tyres.' };
    const first = await notify.send(msg);
    const again = await notify.send(msg);
    const other = await notify.send({ ...msg, text: 'Caller asked about brakes.' });
    assert.equal(again.messageId, first.messageId);
    assert.notEqual(other.messageId, first.messageId);
    assert.deepEqual(fake.deliveries.slice(before).map((d) => d.id), [first.messageId, other.messageId]);
  });

  it('reports a receiver that refuses the signature as a failed connection test naming the secret', async () => {
    const tenant = await tp.p.tenants.create({ name: 'Wrong Secret Motors', config: { ...demoConfig(), plugins: { ...(demoConfig().plugins as object), notify: { plugin: 'notify-webhook', settings: { url: fake.url }, credentialsRef: 'webhook' } } } });
    await tp.p.tenants.putCredential(tenant.id, 'webhook', { signingSecret: newWebhookSecret() });
    const refusedBefore = fake.refused;
    const r = await tp.p.registry.testConnection(tenant.id, 'notify');
    assert.equal(r.ok, false);
    assert.match(r.error?.message ?? '', /signing secret/);
    assert.equal(fake.refused, refusedBefore + 1);
    const notify = await tp.p.registry.get(tenant.id, 'notify') as NotifyProvider;
    await assert.rejects(notify.send({ to: 'advisor@example.com', subject: 's', text: 't' }), (e: unknown) => isPluginError(e) && e.category === 'auth');
  });

  it('refuses, with a coded load error and without stopping, a package folder with no name and a package written for another apiVersion', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-pkg-'));
    try {
      const nameless = path.join(root, 'nameless');
      fs.mkdirSync(nameless);
      fs.writeFileSync(path.join(nameless, 'package.json'), JSON.stringify({ type: 'module', exports: './index.js' }));
      fs.writeFileSync(path.join(nameless, 'index.js'), 'export default {};');
      const future = path.join(root, 'future');
      fs.mkdirSync(future);
      fs.writeFileSync(path.join(future, 'package.json'), JSON.stringify({ name: '@acme/servicelane-notify-future', type: 'module', exports: { '.': './main.js' } }));
      fs.writeFileSync(path.join(future, 'main.js'), `import { definePlugin } from '@servicelane/sdk';
export default definePlugin({ id: 'notify-future', kind: 'notify', version: '2.0.0', apiVersion: 2, settingsSchema: { type: 'object' }, capabilities: {}, create: () => ({ send: async () => ({ messageId: 'x' }) }) });`);
      const registry = testRegistry(tp, { manifests: [] });
      try {
        await registry.loadPackages([nameless, future, PACKAGE_DIR]);
        assert.deepEqual(registry.loadErrors().map((e) => ({ source: e.source, code: e.code })), [
          { source: `package:${nameless}`, code: 'PLG_ERR_SHAPE' },
          { source: `package:${future}`, code: 'PLG_ERR_API_VERSION' },
        ]);
        assert.deepEqual(registry.list().map((p) => p.id), ['notify-webhook'], 'the good package after them still loads');
      } finally {
        await registry.close();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses a tenant config whose settings break the package\'s own schema, with the registry\'s coded error', () => {
    const config = parseDealershipConfig({ ...demoConfig(), plugins: { ...(demoConfig().plugins as object), notify: { plugin: 'notify-webhook', settings: { url: 'ftp://example.com/x' }, credentialsRef: 'webhook' } } });
    const issues = tp.p.registry.validateConfig(config);
    assert.deepEqual(issues.map((i) => i.code), ['PLG_ERR_CONFIG_INVALID']);
  });
});
