// notify-log: the development notifier that logs instead of delivering.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { isPluginError } from '../../core/sdk/index.js';
import notifyLog from '../../plugins/notify-log/index.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { createPluginTestContext } from '../helpers/plugin-context.js';

const demo = JSON.parse(fs.readFileSync(new URL('../../tenants/examples/demo-dealership.json', import.meta.url), 'utf8')) as unknown;

describe('notify-log plugin', () => {
  let tp: TestPlatform;
  let tenantId: string;
  before(async () => {
    tp = await startTestPlatform();
    tenantId = (await tp.p.tenants.create({ name: 'Demo', config: demo })).id;
  });
  after(async () => { await tp?.close(); });

  it('logs the message with recipient and subject only under pii, and keeps it in the store when asked', async () => {
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'notify-log' });
    const n = await notifyLog.create(ctx, { settings: { keepSec: 60 }, credentials: {} });
    const { messageId } = await n.send({ to: 'advisor@example.com', subject: 'Callback for Maria', text: 'Please call back' });
    const line = ctx.logs.find((l) => (l.obj as { messageId?: string }).messageId === messageId);
    assert.ok(line);
    const { pii, ...rest } = line.obj as { pii: unknown };
    assert.deepEqual(pii, { to: 'advisor@example.com', subject: 'Callback for Maria' });
    assert.ok(!JSON.stringify(rest).includes('advisor@example.com'));
    assert.deepEqual(await ctx.store.get(`msg:${messageId}`), { to: 'advisor@example.com', subject: 'Callback for Maria', text: 'Please call back', at: (await ctx.store.get<{ at: string }>(`msg:${messageId}`))!.at });
  });

  it('refuses an empty recipient and stores nothing', async () => {
    const ctx = createPluginTestContext({ p: tp.p, tenantId, pluginId: 'notify-log-empty' });
    const n = await notifyLog.create(ctx, { settings: { keepSec: 60 }, credentials: {} });
    await assert.rejects(n.send({ to: ' ', subject: 's', text: 't' }), (e: unknown) => isPluginError(e) && e.category === 'invalid_request');
    const rows = await tp.p.tenants.withTenant(tenantId, (trx) => trx('plugin_kv').where({ plugin_id: 'notify-log-empty' }).select('key'));
    assert.deepEqual(rows, []);
  });
});
