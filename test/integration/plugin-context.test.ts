// What a plugin's ctx holds (DESIGN §3): its identity, logger, egress, store, clock and signal; its own settings
// and credentials as create() arguments. No database handle, no platform secret, no other plugin's keys.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { API_VERSION, type AnyPluginManifest, type PluginContext } from '../../core/sdk/index.js';
import { PluginRegistry } from '../../core/registry/registry.js';
import { platformDefaults } from '../../core/registry/platform-defaults.js';
import { createTenantData } from '../../core/repos/index.js';
import { parseEgressAllow } from '../../core/sdk/egress.js';
import { demoConfig } from '../../core/tenancy/seed.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { silentLogger } from '../../core/observability/logger.js';
import { firstPartyPlugins } from '../../plugins/index.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const SECRETS = {
  OPENAI_API_KEY: 'sk-platform-openai-secret-0001',
  DEEPGRAM_API_KEY: 'dg-platform-deepgram-secret-0002',
  TWILIO_AUTH_TOKEN: 'twilio-platform-auth-token-0003',
  ADMIN_JWT_SECRET: 'platform-jwt-secret-platform-jwt-0004',
  GOOGLE_CLIENT_SECRET: 'google-platform-client-secret-0005',
};
const CREDENTIALS_KEY = Buffer.alloc(32, 9).toString('base64');
const TWILIO_SID = `AC${'5eed'.repeat(8)}`;

/** Every string reachable from `root` (own properties, enumerable or not, through objects and arrays). */
function reachableStrings(root: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown, depth: number) => {
    if (typeof v === 'string') { out.push(v); return; }
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v) || depth > 8) return;
    seen.add(v);
    if (Buffer.isBuffer(v)) { out.push(v.toString('base64'), v.toString('utf8')); return; }
    for (const k of Reflect.ownKeys(v as object)) {
      let x: unknown;
      try { x = (v as Record<string | symbol, unknown>)[k]; } catch { continue; }
      walk(x, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

/** Writes a plugin package to a temp folder, as an operator's PLUGIN_PACKAGES entry would provide it. */
function writeSpyPackage(o: { id: string; kind: 'notify' | 'crm' }): { url: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-spy-plugin-'));
  const file = path.join(dir, 'index.mjs');
  const methods = o.kind === 'notify'
    ? `send: async () => ({ messageId: 'm1' })`
    : ['findCustomers', 'getCustomer', 'createCustomer', 'listVehicles', 'addVehicle', 'getServiceHistory', 'logInteraction'].map((m) => `${m}: async () => null`).join(', ');
  fs.writeFileSync(file, `export default { id: '${o.id}', kind: '${o.kind}', version: '0.1.0', apiVersion: ${API_VERSION},
    settingsSchema: { type: 'object' }, capabilities: ${o.kind === 'crm' ? "{ vehicles: true, serviceHistory: true, interactions: true, createCustomers: true }" : '{}'},
    create: (ctx, config) => { (globalThis.__slSpy ??= {})['${o.id}'] = { ctx, config }; return { ${methods} }; } };`);
  return { url: pathToFileURL(file).href, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

function spied(id: string): { ctx: PluginContext; config: { settings: unknown; credentials: unknown } } {
  const s = (globalThis as { __slSpy?: Record<string, { ctx: PluginContext; config: { settings: unknown; credentials: unknown } }> }).__slSpy?.[id];
  assert.ok(s, `${id}.create() was not called`);
  return s;
}

const CTX_KEYS = ['clock', 'egress', 'http', 'logger', 'pluginId', 'signal', 'store', 'tenantId', 'timezone'];

describe('plugin context: no database handle, no platform secret', function () {
  this.timeout(60_000);
  let tp: TestPlatform;
  let spy: ReturnType<typeof writeSpyPackage>;

  before(async () => {
    spy = writeSpyPackage({ id: 'notify-spy', kind: 'notify' });
    tp = await startTestPlatform({
      env: {
        ...SECRETS, CREDENTIALS_KEY, TWILIO_ACCOUNT_SID: TWILIO_SID, GOOGLE_CLIENT_ID: 'google-client-id',
        PLUGIN_PACKAGES: spy.url,
      },
    });
  });
  after(async () => {
    await tp?.close();
    spy?.cleanup();
    delete (globalThis as { __slSpy?: unknown }).__slSpy;
  });

  it('gives a third-party package loaded through PLUGIN_PACKAGES a ctx with no db handle and none of the platform secrets', async () => {
    assert.ok(tp.p.registry.list().some((p) => p.id === 'notify-spy' && p.source === `package:${spy.url}`), 'the package was loaded');
    const t = await tp.p.tenants.create({ name: 'Spy Motors', config: { ...demoConfig(), plugins: { ...(demoConfig().plugins as object), notify: { plugin: 'notify-spy' } } } });
    await tp.p.registry.get(t.id, 'notify');
    const { ctx, config } = spied('notify-spy');
    assert.deepEqual(Object.keys(ctx).sort(), CTX_KEYS);
    assert.equal((ctx as unknown as Record<string, unknown>).tenantDb, undefined);
    assert.equal((ctx as unknown as Record<string, unknown>).env, undefined);
    assert.equal(ctx.tenantData, undefined);
    assert.deepEqual(config.credentials, {}, 'a plugin with no platform defaults gets no credentials');
    const json = JSON.stringify(ctx);
    const strings = reachableStrings(ctx);
    for (const [name, value] of Object.entries({ ...SECRETS, CREDENTIALS_KEY })) {
      assert.ok(!json.includes(value), `JSON.stringify(ctx) contains ${name}`);
      assert.ok(!strings.some((s) => s.includes(value)), `a string reachable from ctx contains ${name}`);
    }
  });

  it('hands each provider plugin its own platform key as its credentials, and nothing of another plugin', async () => {
    // Spies registered under the first-party ids, so the composition root's defaults apply to them.
    const ids = ['llm-openai', 'stt-deepgram', 'telephony-twilio', 'vehicle-nhtsa'] as const;
    const kinds = { 'llm-openai': 'llm', 'stt-deepgram': 'stt', 'telephony-twilio': 'telephony', 'vehicle-nhtsa': 'vehicle' } as const;
    const methods: Record<string, string[]> = { llm: ['generate'], stt: ['open'], telephony: ['hangUp', 'transfer', 'placeCall', 'configureNumber', 'findCalls', 'sayAndHangUp'], vehicle: ['decodeVin'] };
    const manifests = ids.map((id): AnyPluginManifest => ({
      id, kind: kinds[id], version: '1.0.0', apiVersion: API_VERSION,
      settingsSchema: { type: 'object' }, capabilities: firstPartyPlugins.find((m) => m.id === id)!.capabilities,
      create: (ctx, config) => {
        const g = globalThis as { __slSpy?: Record<string, unknown> };
        (g.__slSpy ??= {})[id] = { ctx, config };
        return Object.fromEntries(methods[kinds[id]]!.map((m) => [m, async () => undefined])) as never;
      },
    }));
    const registry = new PluginRegistry({
      tenants: tp.p.tenants, state: tp.p.state, logger: silentLogger, manifests,
      platformDefaults: platformDefaults(tp.cfg), egress: { httpsOnly: false, allow: parseEgressAllow([]).allow },
    });
    try {
      // The demo config already names these ids for llm, stt, telephony and vehicle.
      const tenant = await tp.p.tenants.create({ name: 'Keys Motors', config: demoConfig() });
      for (const slot of ['llm', 'stt', 'telephony', 'vehicle'] as const) await registry.get(tenant.id, slot);
      assert.deepEqual(spied('llm-openai').config.credentials, { apiKey: SECRETS.OPENAI_API_KEY });
      assert.deepEqual(spied('stt-deepgram').config.credentials, { apiKey: SECRETS.DEEPGRAM_API_KEY });
      assert.deepEqual(spied('telephony-twilio').config.credentials, { accountSid: TWILIO_SID, authToken: SECRETS.TWILIO_AUTH_TOKEN });
      assert.deepEqual(spied('vehicle-nhtsa').config.credentials, {});
      assert.deepEqual(spied('vehicle-nhtsa').config.settings, { baseUrl: 'https://vpic.nhtsa.dot.gov' });
      for (const id of ids) {
        const everything = JSON.stringify(spied(id).config) + JSON.stringify(spied(id).ctx);
        const foreign = Object.entries({ ...SECRETS, CREDENTIALS_KEY }).filter(([name]) => !(
          (id === 'llm-openai' && name === 'OPENAI_API_KEY') || (id === 'stt-deepgram' && name === 'DEEPGRAM_API_KEY')
          || (id === 'telephony-twilio' && name === 'TWILIO_AUTH_TOKEN')));
        for (const [name, value] of foreign) assert.ok(!everything.includes(value), `${id} can see ${name}`);
      }
    } finally {
      await registry.close();
    }
  });

  it('gives core tenant data to the first-party built-ins only, never to a package that reuses their id', async () => {
    const pkg = writeSpyPackage({ id: 'crm-builtin', kind: 'crm' });
    const granted = { pluginIds: ['crm-builtin'], forTenant: (id: string) => createTenantData((fn) => tp.p.tenants.withTenant(id, fn)) };
    // No first-party manifests: the package's "crm-builtin" registers, but as a package.
    const registry = new PluginRegistry({ tenants: tp.p.tenants, state: tp.p.state, logger: silentLogger, manifests: [], egress: { httpsOnly: false, allow: parseEgressAllow([]).allow }, tenantData: granted });
    try {
      await registry.loadPackages([pkg.url]);
      const t = await tp.p.tenants.create({ name: 'Impostor Motors', config: demoConfig() });
      await registry.get(t.id, 'crm');
      assert.equal(spied('crm-builtin').ctx.tenantData, undefined);
      // The real first-party crm-builtin, through the app's own registry, reads the tenant's tables.
      const seeded = await tp.p.tenants.create({ name: 'Builtin Motors', config: demoConfig() });
      await tp.p.tenants.withTenant(seeded.id, (trx) => trx('customers').insert({ first_name: 'Ana', last_name: 'Lopez', phone: '+14085550111' }));
      const crm = await tp.p.registry.get(seeded.id, 'crm');
      assert.deepEqual((await crm.findCustomers({ phone: '+14085550111' })).map((c) => c.lastName), ['Lopez']);
    } finally {
      await registry.close();
      pkg.cleanup();
    }
  });

  it('refuses a tenant endpoint setting while the slot runs on the platform key, and accepts it with the tenant\'s own key', () => {
    const config = demoConfig();
    const withLlm = (llm: Record<string, unknown>) => parseDealershipConfig({ ...config, plugins: { ...(config.plugins as object), llm } });
    const issues = tp.p.registry.validateConfig(withLlm({ plugin: 'llm-openai', settings: { baseUrl: 'https://collector.example' } }));
    assert.deepEqual(issues.map((i) => [i.code, i.details.path]), [['PLG_ERR_CONFIG_INVALID', '/plugins/llm/settings/baseUrl']]);
    assert.deepEqual(tp.p.registry.validateConfig(withLlm({ plugin: 'llm-openai', settings: { baseUrl: 'https://collector.example' }, credentialsRef: 'own-openai' })), []);
  });
});
