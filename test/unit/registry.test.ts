import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { JSONSchemaType } from 'ajv';
import {
  API_VERSION, definePlugin, fromHttpStatus, PluginError, toPluginError,
  type AnyPluginManifest, type CalendarProvider, type CrmConnector, type PluginContext,
} from '../../core/sdk/index.js';
import { PluginRegistry, type PluginRegistryOptions } from '../../core/registry/registry.js';
import { parseEgressAllow } from '../../core/sdk/egress.js';
import { ServiceLaneError } from '../../core/errors.js';
import { parseDealershipConfig } from '../../core/tenancy/config.js';
import { silentLogger } from '../../core/observability/logger.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as Record<string, unknown>;

// ---- a tiny vendor the test CRM talks to over real HTTP --------------------------------------------

type VendorMode = 'ok' | 'hang' | number;
interface Vendor { url: string; hits: string[]; mode: VendorMode; close(): Promise<void> }

async function startVendor(): Promise<Vendor> {
  const v = { hits: [] as string[], mode: 'ok' as VendorMode };
  const server = http.createServer((req, res) => {
    v.hits.push(`${req.method} ${req.url}`);
    if (v.mode === 'hang') return;
    if (typeof v.mode === 'number') { res.writeHead(v.mode, { 'content-type': 'application/json' }).end('{"error":"nope"}'); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ people: [{ uid: 'p1', first: 'Ana', last: 'Lopez', tel: '+14085550111' }] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(v, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  });
}

// ---- test plugins (plugins under test, defined here) ----------------------------------------------

interface CrmSettings { baseUrl: string; region: 'us' | 'eu'; pageSize?: number }
interface CrmCreds { apiKey: string }
const crmSettingsSchema: JSONSchemaType<CrmSettings> = {
  type: 'object', additionalProperties: false, required: ['baseUrl', 'region'],
  properties: {
    baseUrl: { type: 'string', format: 'uri' },
    region: { type: 'string', enum: ['us', 'eu'] },
    pageSize: { type: 'integer', minimum: 1, maximum: 100, nullable: true, default: 20 },
  },
};
const crmCredsSchema: JSONSchemaType<CrmCreds> = { type: 'object', additionalProperties: false, required: ['apiKey'], properties: { apiKey: { type: 'string', minLength: 8 } } };

interface Created { pluginId: string; ctx: PluginContext; settings: unknown; credentials: unknown; closed: boolean }

function testPlugins(log: Created[]) {
  const track = (ctx: PluginContext, settings: unknown, credentials: unknown) => {
    const c: Created = { pluginId: ctx.pluginId, ctx, settings, credentials, closed: false };
    log.push(c);
    return c;
  };
  const crm = definePlugin<'crm', CrmSettings, CrmCreds>({
    id: 'crm-test', kind: 'crm', version: '1.0.0', apiVersion: API_VERSION,
    settingsSchema: crmSettingsSchema, credentialsSchema: crmCredsSchema,
    capabilities: { vehicles: true, interactions: true },
    validate: (s) => (s.region === 'eu' && (s.pageSize ?? 0) > 50 ? ['pageSize above 50 is not allowed in the eu region'] : []),
    testConnection: async (ctx, { settings }) => {
      const res = await ctx.http(`${settings.baseUrl}/ping`, { signal: ctx.signal });
      return res.ok ? { ok: true } : { ok: false, detail: `vendor answered ${res.status}` };
    },
    create: (ctx, { settings, credentials }) => {
      const rec = track(ctx, settings, credentials);
      const call = async (p: string, signal?: AbortSignal, method = 'GET') => {
        let res: Response;
        try {
          res = await ctx.http(`${settings.baseUrl}${p}`, { method, signal, headers: { authorization: `Bearer ${credentials.apiKey}` } });
        } catch (e) {
          throw toPluginError(e, 'test-vendor');
        }
        if (!res.ok) throw fromHttpStatus(res.status, 'vendor request failed', { provider: 'test-vendor' });
        return res.json() as Promise<{ people: { uid: string; first: string; last: string; tel: string }[] }>;
      };
      const connector: CrmConnector = {
        async findCustomers(o) {
          const body = await call(`/people?phone=${encodeURIComponent(o.phone ?? '')}`, o.signal);
          return body.people.map((p) => ({ id: p.uid, firstName: p.first, lastName: p.last, phone: p.tel }));
        },
        async getCustomer() { return null; },
        async createCustomer(o) { await call('/people', o.signal, 'POST'); return { id: 'new', firstName: o.firstName, lastName: o.lastName }; },
        async listVehicles() { return []; },
        async addVehicle(o) { return { id: 'v1', customerId: o.customerId }; },
        async getServiceHistory() { return []; },
        async logInteraction() { return { externalId: 'n1' }; },
        async close() { rec.closed = true; },
      };
      return connector;
    },
  });
  const calendar = (id: string, capabilities: Record<string, boolean>) => definePlugin<'calendar', Record<string, never>>({
    id, kind: 'calendar', version: '1.0.0', apiVersion: API_VERSION,
    settingsSchema: { type: 'object', additionalProperties: false, required: [] },
    capabilities,
    create: (ctx) => {
      const rec = track(ctx, {}, {});
      const cal: CalendarProvider = {
        async getBusy() { return [{ start: '2030-01-01T10:00:00Z', end: '2030-01-01T11:00:00Z', resourceId: id }]; },
        async createAppointment() { return { externalId: `${id}-1` }; },
        async updateAppointment() {},
        async cancelAppointment() {},
        async close() { rec.closed = true; },
      };
      return cal;
    },
  });
  return { crm, calendar: calendar('calendar-test', { busy: true }), calendarNoBusy: calendar('calendar-nobusy', { write: true }), calendarLocal: calendar('calendar-local', { busy: true }) };
}

function tenantConfig(plugins: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...structuredClone(demo), ...extra, plugins };
}

async function rejects(p: Promise<unknown>): Promise<ServiceLaneError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ServiceLaneError, `expected a ServiceLaneError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

async function rejectsPlugin(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PluginError, `expected a PluginError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('PluginRegistry', function () {
  this.timeout(30_000);
  let tp: TestPlatform;
  let vendor: Vendor;
  let log: Created[];
  let plugins: ReturnType<typeof testPlugins>;
  const registries: PluginRegistry[] = [];

  const makeRegistry = (o: Partial<PluginRegistryOptions> = {}) => {
    const r = new PluginRegistry({
      tenants: tp.p.tenants, state: tp.p.state, logger: silentLogger,
      // The test vendor listens on loopback: allow-listed explicitly, as an operator would.
      egress: { httpsOnly: false, allow: parseEgressAllow(['127.0.0.0/8', '::1']).allow },
      manifests: [plugins.crm, plugins.calendar, plugins.calendarNoBusy, plugins.calendarLocal] as AnyPluginManifest[],
      resilience: { timeoutMs: { crm: 300 }, retry: { attempts: 3, baseMs: 1, maxMs: 5 }, breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 60_000, volumeThreshold: 100 } },
      ...o,
    });
    registries.push(r);
    return r;
  };
  const crmSlot = (extra: Record<string, unknown> = {}) => ({ plugin: 'crm-test', settings: { baseUrl: vendor.url, region: 'us' }, credentialsRef: 'crm-key', ...extra });
  const newTenant = async (pluginsCfg: Record<string, unknown> = { crm: crmSlot(), calendar: { plugin: 'calendar-test' } }) => {
    const t = await tp.p.tenants.create({ name: 'Registry Test Motors', config: tenantConfig(pluginsCfg) });
    await tp.p.tenants.putCredential(t.id, 'crm-key', { apiKey: 'secret-key-123' });
    return t.id;
  };

  before(async () => {
    tp = await startTestPlatform();
    vendor = await startVendor();
  });
  after(async () => {
    await vendor.close();
    await tp.close();
  });
  beforeEach(() => {
    log = [];
    plugins = testPlugins(log);
    vendor.mode = 'ok';
    vendor.hits.length = 0;
  });
  afterEach(async () => {
    for (const r of registries.splice(0)) await r.close();
  });

  describe('load pipeline', () => {
    it('refuses a manifest with an unknown apiVersion (PLG_ERR_API_VERSION) and keeps booting', () => {
      const future = { ...plugins.calendar, id: 'calendar-future', apiVersion: 2 };
      const r = makeRegistry({ manifests: [future, plugins.crm] as AnyPluginManifest[] });
      assert.deepEqual(r.loadErrors().map((e) => [e.pluginId, e.code]), [['calendar-future', 'PLG_ERR_API_VERSION']]);
      assert.deepEqual(r.list().map((p) => p.id), ['crm-test']);
      const issues = r.validateConfig(parseDealershipConfig(tenantConfig({ crm: crmSlot(), calendar: { plugin: 'calendar-future' } })));
      assert.equal(issues[0]?.code, 'PLG_ERR_NOT_FOUND');
      assert.deepEqual((issues[0]?.details as { loadError?: { code: string } }).loadError?.code, 'PLG_ERR_API_VERSION');
    });

    it('refuses a second manifest with the same id (PLG_ERR_DUPLICATE_ID) and keeps the first', () => {
      const dup = { ...plugins.calendarNoBusy, id: 'calendar-test' };
      const r = makeRegistry({ manifests: [plugins.calendar, dup] as AnyPluginManifest[] });
      assert.deepEqual(r.loadErrors().map((e) => e.code), ['PLG_ERR_DUPLICATE_ID']);
      assert.equal(r.manifest('calendar-test'), plugins.calendar);
    });

    it('refuses malformed manifests (PLG_ERR_SHAPE) with the fields at fault', () => {
      const bad = [
        null,
        { ...plugins.calendar, id: 'Calendar_Bad' },
        { ...plugins.calendar, id: 'calendar-nocreate', create: undefined },
        { ...plugins.calendar, id: 'crm-wrong-prefix' },
        { ...plugins.calendar, id: 'calendar-badschema', settingsSchema: { type: 'object', properties: { a: { type: 'no-such-type' } } } },
      ];
      const r = makeRegistry({ manifests: [...bad, plugins.crm] as unknown as AnyPluginManifest[] });
      const errs = r.loadErrors();
      assert.equal(errs.length, 5);
      assert.ok(errs.every((e) => e.code === 'PLG_ERR_SHAPE'));
      assert.match(errs[1]!.message, /\/id/);
      assert.match(errs[2]!.message, /\/create/);
      assert.match(errs[3]!.message, /must start with "calendar-"/);
      assert.match(errs[4]!.message, /does not compile/);
      assert.deepEqual(r.list().map((p) => p.id), ['crm-test']);
    });

    it('loads a third-party package that default-exports a manifest, and reports one that cannot be imported', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-plugin-'));
      const file = path.join(dir, 'index.mjs');
      fs.writeFileSync(file, `export default { id: 'notify-pkg', kind: 'notify', version: '0.1.0', apiVersion: ${API_VERSION},
        settingsSchema: { type: 'object' }, capabilities: {}, create: () => ({ send: async () => ({ messageId: 'm1' }) }) };`);
      const r = makeRegistry();
      await r.loadPackages([pathToFileURL(file).href, 'servicelane-plugin-that-does-not-exist']);
      const pkg = r.list().find((p) => p.id === 'notify-pkg');
      assert.equal(pkg?.source, `package:${pathToFileURL(file).href}`);
      assert.deepEqual(r.loadErrors().map((e) => [e.source, e.code]), [['package:servicelane-plugin-that-does-not-exist', 'PLG_ERR_SHAPE']]);
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });

  describe('validateConfig', () => {
    const cfg = (pl: Record<string, unknown>) => parseDealershipConfig(tenantConfig(pl));

    it('accepts a valid configuration', () => {
      assert.deepEqual(makeRegistry().validateConfig(cfg({ crm: crmSlot(), calendar: { plugin: 'calendar-test' } })), []);
    });

    it('reports every settings error with its ajv path (PLG_ERR_CONFIG_INVALID)', () => {
      const issues = makeRegistry().validateConfig(cfg({
        crm: crmSlot({ settings: { baseUrl: 'not a url', region: 'asia', pageSize: 0, colour: 'red' } }),
        calendar: { plugin: 'calendar-test' },
      }));
      assert.ok(issues.every((i) => i.code === 'PLG_ERR_CONFIG_INVALID' && i.slot === 'crm'));
      const paths = issues.map((i) => i.details.path).sort();
      assert.deepEqual(paths, ['/plugins/crm/settings', '/plugins/crm/settings/baseUrl', '/plugins/crm/settings/pageSize', '/plugins/crm/settings/region']);
      assert.ok(issues.some((i) => i.details.instancePath === '/region' && i.details.keyword === 'enum'));
      assert.ok(issues.some((i) => /unknown|additional/.test(i.message) && i.message.includes('colour')));
    });

    it('reports validate() messages after the schema passes', () => {
      const issues = makeRegistry().validateConfig(cfg({ crm: crmSlot({ settings: { baseUrl: vendor.url, region: 'eu', pageSize: 80 } }), calendar: { plugin: 'calendar-test' } }));
      assert.equal(issues.length, 1);
      assert.equal(issues[0]!.code, 'PLG_ERR_CONFIG_INVALID');
      assert.match(issues[0]!.message, /pageSize above 50 is not allowed in the eu region/);
    });

    it('reports an unknown plugin and a plugin of the wrong kind', () => {
      const issues = makeRegistry().validateConfig(cfg({ crm: { plugin: 'crm-nowhere' }, calendar: { plugin: 'crm-test' } }));
      assert.deepEqual(issues.map((i) => [i.slot, i.code]), [['crm', 'PLG_ERR_NOT_FOUND'], ['calendar', 'PLG_ERR_KIND_MISMATCH']]);
    });

    it('reports a capability the tenant flow needs (PLG_ERR_CAPABILITY_MISSING)', () => {
      const issues = makeRegistry().validateConfig(cfg({ crm: crmSlot(), calendar: { plugin: 'calendar-nobusy' } }));
      assert.deepEqual(issues.map((i) => [i.slot, i.code, i.details.capability]), [['calendar', 'PLG_ERR_CAPABILITY_MISSING', 'busy']]);
    });

    it('requires a vehicle-storing CRM when the tenant takes VINs', () => {
      const noVehicles = { ...plugins.crm, capabilities: { interactions: true } };
      const r = makeRegistry({ manifests: [noVehicles, plugins.calendar] as AnyPluginManifest[] });
      assert.deepEqual(r.validateConfig(cfg({ crm: crmSlot(), calendar: { plugin: 'calendar-test' } })), []);
      const issues = r.validateConfig(cfg({ crm: crmSlot(), calendar: { plugin: 'calendar-test' }, vehicle: { plugin: 'vehicle-none' } }));
      assert.ok(issues.some((i) => i.code === 'PLG_ERR_CAPABILITY_MISSING' && i.details.capability === 'vehicles'));
    });

    it('reports a missing credentials reference for a plugin that needs secrets', () => {
      const issues = makeRegistry().validateConfig(cfg({ crm: crmSlot({ credentialsRef: undefined }), calendar: { plugin: 'calendar-test' } }));
      assert.deepEqual(issues.map((i) => [i.code, i.details.path]), [['PLG_ERR_CREDENTIALS_MISSING', '/plugins/crm/credentialsRef']]);
    });

    it('checks the fallback plugin too', () => {
      const issues = makeRegistry().validateConfig(cfg({ crm: crmSlot(), calendar: { plugin: 'calendar-test', fallback: 'crm-test' } }));
      assert.deepEqual(issues.map((i) => [i.code, i.details.path]), [['PLG_ERR_KIND_MISMATCH', '/plugins/calendar/fallback']]);
    });
  });

  describe('instances', () => {
    it('creates an instance lazily, once, with a context bound to the tenant', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      assert.equal(log.length, 0, 'nothing is created at construction');
      const [a, b] = await Promise.all([r.get(tenantId, 'crm'), r.get(tenantId, 'crm')]);
      assert.equal(a, b);
      assert.equal(await r.get(tenantId, 'crm'), a);
      assert.equal(log.length, 1);
      const { ctx, settings, credentials } = log[0]!;
      assert.equal(ctx.tenantId, tenantId);
      assert.equal(ctx.pluginId, 'crm-test');
      assert.equal(ctx.timezone, 'America/Los_Angeles');
      assert.deepEqual(Object.keys(ctx).sort(), ['clock', 'egress', 'http', 'logger', 'pluginId', 'signal', 'store', 'tenantId', 'timezone'],
        'no database handle, no platform env, no tenant data for a plugin the composition root did not grant it to');
      assert.deepEqual(settings, { baseUrl: vendor.url, region: 'us', pageSize: 20 }, 'schema defaults are applied');
      assert.deepEqual(credentials, { apiKey: 'secret-key-123' });
      assert.deepEqual(await a.findCustomers({ phone: '+14085550111' }), [{ id: 'p1', firstName: 'Ana', lastName: 'Lopez', phone: '+14085550111' }]);
    });

    it('gives plugins a tenant-scoped store and no database handle', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      await r.get(tenantId, 'crm');
      const { ctx } = log[0]!;
      await ctx.store.set('cursor', { page: 3 });
      await ctx.store.set('short', 'x', { ttlSec: -1 });
      assert.deepEqual(await ctx.store.get('cursor'), { page: 3 });
      assert.equal(await ctx.store.get('short'), undefined, 'an expired key reads as absent');
      await ctx.store.delete('cursor');
      assert.equal(await ctx.store.get('cursor'), undefined);
      assert.equal((ctx as unknown as Record<string, unknown>).tenantDb, undefined);
      assert.equal(ctx.tenantData, undefined);
      const rows = await tp.p.tenants.withTenant(tenantId, (trx) => trx('plugin_kv').where({ plugin_id: 'crm-test' }).select('key'));
      assert.deepEqual(rows, [{ key: 'short' }], 'the store writes plugin_kv in the tenant schema, namespaced by plugin id');
    });

    it('keeps the instance across unrelated config changes and replaces it when the slot changes, closing the old one', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      const first = await r.get(tenantId, 'crm');
      await tp.p.tenants.updateConfig(tenantId, tenantConfig({ crm: crmSlot(), calendar: { plugin: 'calendar-test' } }, { slotGranularityMin: 30 }));
      assert.equal(await r.get(tenantId, 'crm'), first);
      await tp.p.tenants.updateConfig(tenantId, tenantConfig({ crm: crmSlot({ settings: { baseUrl: vendor.url, region: 'eu' } }), calendar: { plugin: 'calendar-test' } }));
      const second = await r.get(tenantId, 'crm');
      assert.notEqual(second, first);
      assert.equal(log.length, 2);
      assert.equal(log[0]!.closed, true);
      assert.equal(log[0]!.ctx.signal.aborted, true);
      assert.equal(log[1]!.ctx.signal.aborted, false);
    });

    it('replaces the instance when its credentials change', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      const first = await r.get(tenantId, 'crm');
      await tp.p.tenants.putCredential(tenantId, 'crm-key', { apiKey: 'rotated-key-456' });
      const second = await r.get(tenantId, 'crm');
      assert.notEqual(second, first);
      assert.deepEqual(log[1]!.credentials, { apiKey: 'rotated-key-456' });
      assert.equal(log[0]!.closed, true);
    });

    it('answers PLG_ERR_SLOT_DISABLED for a slot that is not configured, and tryGet answers null', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      const e = await rejects(r.get(tenantId, 'vehicle'));
      assert.equal(e.code, 'PLG_ERR_SLOT_DISABLED');
      assert.equal((e.details as { reason: string }).reason, 'not configured');
      assert.equal(await r.tryGet(tenantId, 'vehicle'), null);
      assert.equal(await r.tryGet(tenantId, 'notify'), null);
    });

    it('disables the slot with PLG_ERR_CREDENTIALS_MISSING when the reference does not resolve, creating nothing', async () => {
      const tenantId = await newTenant({ crm: crmSlot({ credentialsRef: 'not-stored' }), calendar: { plugin: 'calendar-test' } });
      const r = makeRegistry();
      const e = await rejects(r.get(tenantId, 'crm'));
      assert.equal(e.code, 'PLG_ERR_SLOT_DISABLED');
      assert.equal((e.details as { code: string }).code, 'PLG_ERR_CREDENTIALS_MISSING');
      assert.equal(log.length, 0);
      assert.equal(vendor.hits.length, 0);
    });

    it('disables the slot when a stored credential fails the schema, without echoing the secret', async () => {
      const tenantId = await newTenant();
      await tp.p.tenants.putCredential(tenantId, 'crm-key', { apiKey: 'short' });
      const r = makeRegistry();
      const e = await rejects(r.get(tenantId, 'crm'));
      assert.equal((e.details as { code: string }).code, 'PLG_ERR_CONFIG_INVALID');
      assert.ok(!JSON.stringify(e.toJSON()).includes('short'));
      assert.equal(log.length, 0);
    });

    it('disables the slot when settings stored earlier fail the plugin schema, and other slots keep working', async () => {
      const tenantId = await newTenant({ crm: crmSlot({ settings: { baseUrl: vendor.url, region: 'mars' } }), calendar: { plugin: 'calendar-test' } });
      const r = makeRegistry();
      const e = await rejects(r.get(tenantId, 'crm'));
      assert.equal((e.details as { code: string }).code, 'PLG_ERR_CONFIG_INVALID');
      assert.equal(log.length, 0);
      const cal = await r.get(tenantId, 'calendar');
      assert.equal((await cal.getBusy({ from: '2030-01-01T00:00:00Z', to: '2030-01-02T00:00:00Z' })).length, 1);
    });

    it('disables the slot when create() returns an incomplete instance', async () => {
      const broken = { ...plugins.calendar, create: () => ({ getBusy: async () => [] }) };
      const tenantId = await newTenant();
      const r = makeRegistry({ manifests: [plugins.crm, broken] as AnyPluginManifest[] });
      const e = await rejects(r.get(tenantId, 'calendar'));
      assert.equal((e.details as { code: string }).code, 'PLG_ERR_SHAPE');
    });

    it('hands out streaming kinds unwrapped, with their fallback instance alongside', async () => {
      const raw: object[] = [];
      const stt = (id: string) => definePlugin<'stt', Record<string, never>>({
        id, kind: 'stt', version: '1.0.0', apiVersion: API_VERSION, settingsSchema: { type: 'object', required: [] }, capabilities: {},
        create: () => {
          const inst = { open: async () => ({ push: () => undefined, finalize: () => undefined, close: async () => undefined }) };
          raw.push(inst);
          return inst;
        },
      });
      const tenantId = await newTenant({ crm: crmSlot(), calendar: { plugin: 'calendar-test' }, stt: { plugin: 'stt-main', fallback: 'stt-backup' } });
      const r = makeRegistry({ manifests: [plugins.crm, plugins.calendar, stt('stt-main'), stt('stt-backup')] as AnyPluginManifest[] });
      assert.equal(await r.get(tenantId, 'stt'), raw[0]);
      assert.equal(await r.getFallback(tenantId, 'stt'), raw[1]);
      assert.equal(await r.getFallback(tenantId, 'tts'), null);
      assert.equal(r.breakerState(tenantId, 'stt'), null, 'the voice pipeline guards streaming kinds itself');
    });

    it('refuses an offboarded tenant and closes its instances on closeTenant', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      await r.get(tenantId, 'crm');
      await tp.p.tenants.offboard(tenantId);
      await r.closeTenant(tenantId);
      assert.equal(log[0]!.closed, true);
      assert.equal((await rejects(r.get(tenantId, 'crm'))).code, 'TEN_ERR_OFFBOARDED');
      assert.equal(log.length, 1);
    });

    it('closes every instance on close() and refuses later gets', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      await r.get(tenantId, 'crm');
      await r.get(tenantId, 'calendar');
      await r.close();
      assert.ok(log.every((c) => c.closed && c.ctx.signal.aborted));
      assert.equal((await rejects(r.get(tenantId, 'crm'))).code, 'PLG_ERR_SLOT_DISABLED');
    });
  });

  describe('vendor failures through a wrapped instance', () => {
    const cases: [number, string, boolean][] = [[401, 'auth', false], [403, 'forbidden', false], [404, 'not_found', false], [429, 'rate_limit', true], [500, 'upstream', true]];
    for (const [status, category, retryable] of cases) {
      it(`maps a vendor ${status} to a ${category} PluginError${retryable ? ' and retries it' : ' without retrying'}`, async () => {
        const tenantId = await newTenant();
        const crm = await makeRegistry().get(tenantId, 'crm');
        vendor.mode = status;
        const e = await rejectsPlugin(crm.findCustomers({ phone: '+14085550111' }));
        assert.equal(e.category, category);
        assert.equal(e.retryable, retryable);
        assert.equal(e.status, status);
        assert.equal(vendor.hits.length, retryable ? 3 : 1);
      });
    }

    it('times out a hanging vendor with a timeout PluginError, per attempt', async () => {
      const tenantId = await newTenant();
      const crm = await makeRegistry().get(tenantId, 'crm');
      vendor.mode = 'hang';
      const e = await rejectsPlugin(crm.findCustomers({ phone: '+14085550111' }));
      assert.equal(e.category, 'timeout');
      assert.equal(vendor.hits.length, 3);
    });

    it('maps an unreachable vendor to connectivity', async () => {
      const tenantId = await newTenant({ crm: crmSlot({ settings: { baseUrl: 'http://127.0.0.1:9', region: 'us' } }), calendar: { plugin: 'calendar-test' } });
      const crm = await makeRegistry({ resilience: { retry: false } }).get(tenantId, 'crm');
      const e = await rejectsPlugin(crm.findCustomers({ phone: '+14085550111' }));
      assert.equal(e.category, 'connectivity');
    });

    it('does not retry a write that may have happened', async () => {
      const tenantId = await newTenant();
      const crm = await makeRegistry().get(tenantId, 'crm');
      vendor.mode = 500;
      await rejectsPlugin(crm.createCustomer({ firstName: 'Ana', lastName: 'Lopez' }));
      assert.equal(vendor.hits.length, 1);
    });

    it('opens the breaker after vendor outages and then fails fast without calling the vendor', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry({ resilience: { retry: false, breaker: { errorThresholdPercentage: 50, resetTimeoutMs: 60_000, volumeThreshold: 3 } } });
      const crm = await r.get(tenantId, 'crm');
      vendor.mode = 503;
      for (let i = 0; i < 3; i++) await rejectsPlugin(crm.findCustomers({}));
      assert.equal(r.breakerState(tenantId, 'crm'), 'open');
      const hits = vendor.hits.length;
      const e = await rejects(crm.findCustomers({}));
      assert.equal(e.code, 'PLG_ERR_BREAKER_OPEN');
      assert.equal(vendor.hits.length, hits);
    });

    it('does not open the breaker on not_found answers', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry({ resilience: { retry: false, breaker: { errorThresholdPercentage: 10, resetTimeoutMs: 60_000, volumeThreshold: 2 } } });
      const crm = await r.get(tenantId, 'crm');
      vendor.mode = 404;
      for (let i = 0; i < 5; i++) await rejectsPlugin(crm.findCustomers({}));
      assert.equal(r.breakerState(tenantId, 'crm'), 'closed');
    });

    it('uses the configured fallback plugin when the primary is down', async () => {
      const tenantId = await newTenant();
      await tp.p.tenants.updateConfig(tenantId, tenantConfig({ crm: crmSlot(), calendar: { plugin: 'calendar-test', fallback: 'calendar-local' } }));
      const broken = { ...plugins.calendar, create: (ctx: PluginContext) => {
        log.push({ pluginId: ctx.pluginId, ctx, settings: {}, credentials: {}, closed: false });
        return { getBusy: async () => { throw new PluginError('upstream', 'google 503'); }, createAppointment: async () => ({ externalId: 'x' }), updateAppointment: async () => {}, cancelAppointment: async () => {} };
      } };
      const r = makeRegistry({ manifests: [plugins.crm, broken, plugins.calendarLocal] as AnyPluginManifest[], resilience: { retry: false } });
      const cal = await r.get(tenantId, 'calendar');
      const busy = await cal.getBusy({ from: '2030-01-01T00:00:00Z', to: '2030-01-02T00:00:00Z' });
      assert.equal(busy[0]?.resourceId, 'calendar-local');
      assert.deepEqual(log.map((c) => c.pluginId), ['calendar-test', 'calendar-local']);
    });
  });

  describe('status and testConnection', () => {
    it('reports ok, disabled and unconfigured slots and persists them to platform.plugin_status', async () => {
      const tenantId = await newTenant({ crm: crmSlot({ credentialsRef: 'missing-ref' }), calendar: { plugin: 'calendar-test' }, notify: { plugin: 'notify-nowhere' } });
      const r = makeRegistry();
      const st = await r.status(tenantId);
      const by = Object.fromEntries(st.map((s) => [s.slot, s]));
      assert.equal(by.calendar?.state, 'ok');
      assert.equal(by.crm?.state, 'disabled');
      assert.equal(by.crm?.error?.code, 'PLG_ERR_CREDENTIALS_MISSING');
      assert.equal(by.notify?.error?.code, 'PLG_ERR_NOT_FOUND');
      assert.equal(by.stt?.state, 'unconfigured');
      const rows: { slot: string; state: string; plugin_id: string; error: { code: string } | null }[] = await tp.p.db('platform.plugin_status').where({ tenant_id: tenantId }).orderBy('slot');
      assert.deepEqual(rows.map((x) => [x.slot, x.state, x.plugin_id, x.error?.code ?? null]), [
        ['calendar', 'ok', 'calendar-test', null],
        ['crm', 'disabled', 'crm-test', 'PLG_ERR_CREDENTIALS_MISSING'],
        ['notify', 'disabled', 'notify-nowhere', 'PLG_ERR_NOT_FOUND'],
      ]);
      await tp.p.tenants.updateConfig(tenantId, tenantConfig({ crm: crmSlot(), calendar: { plugin: 'calendar-test' } }));
      await r.status(tenantId);
      const after: { slot: string; state: string }[] = await tp.p.db('platform.plugin_status').where({ tenant_id: tenantId }).orderBy('slot');
      assert.deepEqual(after.map((x) => [x.slot, x.state]), [['calendar', 'ok'], ['crm', 'ok']]);
    });

    it('reports a slot whose create() failed as disabled with the underlying error', async () => {
      const failing = { ...plugins.calendar, create: () => { throw new PluginError('auth', 'token revoked'); } };
      const tenantId = await newTenant();
      const r = makeRegistry({ manifests: [plugins.crm, failing] as AnyPluginManifest[] });
      const e = await rejects(r.get(tenantId, 'calendar'));
      assert.equal((e.details as { code: string }).code, 'PLG_ERR_CALL_FAILED');
      const cal = (await r.status(tenantId)).find((s) => s.slot === 'calendar');
      assert.equal(cal?.state, 'disabled');
      assert.equal(cal?.error?.code, 'PLG_ERR_CALL_FAILED');
      assert.deepEqual((cal?.error?.details as { category: string }).category, 'auth');
    });

    it('runs the plugin\'s testConnection and reports success and failure', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry();
      const ok = await r.testConnection(tenantId, 'crm');
      assert.equal(ok.ok, true);
      assert.ok(vendor.hits.includes('GET /ping'));
      vendor.mode = 401;
      const bad = await r.testConnection(tenantId, 'crm');
      assert.equal(bad.ok, false);
      assert.equal(bad.detail, 'vendor answered 401');
    });

    it('reports PLG_ERR_TIMEOUT when testConnection hangs', async () => {
      const tenantId = await newTenant();
      const r = makeRegistry({ testTimeoutMs: 100 });
      vendor.mode = 'hang';
      const res = await r.testConnection(tenantId, 'crm');
      assert.equal(res.ok, false);
      assert.equal(res.error?.code, 'PLG_ERR_TIMEOUT');
    });

    it('falls back to creating the instance when the plugin has no testConnection, and reports config problems', async () => {
      const tenantId = await newTenant({ crm: crmSlot({ credentialsRef: 'missing-ref' }), calendar: { plugin: 'calendar-test' } });
      const r = makeRegistry();
      const cal = await r.testConnection(tenantId, 'calendar');
      assert.equal(cal.ok, true);
      assert.equal(log.length, 1);
      const crm = await r.testConnection(tenantId, 'crm');
      assert.equal(crm.ok, false);
      assert.equal(crm.error?.code, 'PLG_ERR_CREDENTIALS_MISSING');
      assert.equal(vendor.hits.length, 0);
      assert.equal((await rejects(r.testConnection(tenantId, 'stt'))).code, 'PLG_ERR_SLOT_DISABLED');
    });
  });
});
