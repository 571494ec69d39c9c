// The plugin egress policy (core/sdk/egress.ts): which addresses are refused, and that the check sits on the
// connection itself (DNS names, redirects, Node agents), not on the URL text.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { addressRefusal, createEgress, findEgressRefusal, parseEgressAllow, type EgressPolicy } from '../../core/sdk/egress.js';

const strict: EgressPolicy = { httpsOnly: false, allow: parseEgressAllow([]).allow };

async function listen(host: string, handler: http.RequestListener): Promise<{ server: http.Server; port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => { hits.push(`${req.method} ${req.url}`); handler(req, res); });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

async function refusal(p: Promise<unknown>): Promise<{ destination: string; reason: string; category: string }> {
  try {
    await p;
  } catch (e) {
    const r = findEgressRefusal(e);
    assert.ok(r, `expected an egress refusal, got ${(e as Error).message}`);
    return r;
  }
  assert.fail('expected a rejection');
}

describe('plugin egress policy', () => {
  it('refuses loopback, private, CGNAT, link-local/metadata, reserved and IPv6 local ranges, mapped IPv4 included', () => {
    for (const ip of ['127.0.0.1', '127.1.2.3', '10.0.0.5', '172.16.3.4', '192.168.1.1', '100.64.0.1', '169.254.169.254', '0.0.0.0',
      '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe']) {
      assert.ok(addressRefusal(ip, strict), `${ip} should be refused`);
    }
    for (const ip of ['8.8.8.8', '93.184.216.34', '2606:4700:4700::1111']) assert.equal(addressRefusal(ip, strict), null, `${ip} should pass`);
  });

  it('lets the operator allow-list exactly what they name', () => {
    const { allow, bad } = parseEgressAllow(['127.0.0.1/32', '10.1.0.0/16', 'crm.internal.example', '999.1.1.1', 'not a host!']);
    assert.deepEqual(bad, ['999.1.1.1', 'not a host!']);
    const policy = { httpsOnly: false, allow };
    assert.equal(addressRefusal('127.0.0.1', policy), null);
    assert.equal(addressRefusal('::ffff:127.0.0.1', policy), null);
    assert.ok(addressRefusal('127.0.0.2', policy));
    assert.equal(addressRefusal('10.1.200.3', policy), null);
    assert.ok(addressRefusal('10.2.0.1', policy));
  });

  it('refuses a loopback server by literal, by a name that resolves to it, and through Node agents; the server sees nothing', async () => {
    const srv = await listen('127.0.0.1', (_q, res) => res.end('secret'));
    const egress = createEgress({ policy: strict });
    try {
      await refusal(egress.fetch(`http://127.0.0.1:${srv.port}/admin`));
      const byName = await refusal(egress.fetch(`http://localhost:${srv.port}/admin`));
      assert.match(byName.destination, /^localhost \(/);
      await refusal(egress.fetch(`http://[::ffff:127.0.0.1]:${srv.port}/admin`));
      const viaAgent = (host: string) => new Promise((resolve, reject) => {
        http.get({ host, port: srv.port, path: '/admin', agent: egress.agents.http }, resolve).on('error', reject);
      });
      await refusal(viaAgent('127.0.0.1'));
      await refusal(viaAgent('localhost'));
      await refusal(egress.check('http://169.254.169.254/latest/meta-data/'));
      assert.deepEqual(srv.hits, [], 'no request reached the loopback server');
    } finally {
      await egress.close();
      srv.server.close();
    }
  });

  it('checks every redirect hop: an allowed host that redirects to a refused one gets no further', async () => {
    const inner = await listen('127.0.0.2', (_q, res) => res.end('internal'));
    const outer = await listen('127.0.0.1', (_q, res) => { res.writeHead(302, { location: `http://127.0.0.2:${inner.port}/internal` }); res.end(); });
    const egress = createEgress({ policy: { httpsOnly: false, allow: parseEgressAllow(['127.0.0.1']).allow } });
    try {
      const r = await refusal(egress.fetch(`http://127.0.0.1:${outer.port}/start`));
      assert.match(r.destination, /127\.0\.0\.2/);
      assert.deepEqual(outer.hits, ['GET /start']);
      assert.deepEqual(inner.hits, []);
      const ok = await egress.fetch(`http://127.0.0.1:${outer.port}/start`, { redirect: 'manual' });
      assert.equal(ok.status, 302, 'the allow-listed host itself is reachable');
    } finally {
      await egress.close();
      outer.server.close();
      inner.server.close();
    }
  });

  it('allows only https in production, before any DNS lookup or connection', async () => {
    const egress = createEgress({ policy: { httpsOnly: true, allow: parseEgressAllow(['127.0.0.1']).allow } });
    const srv = await listen('127.0.0.1', (_q, res) => res.end('ok'));
    try {
      const r = await refusal(egress.fetch(`http://127.0.0.1:${srv.port}/`));
      assert.match(r.reason, /https/);
      assert.equal(r.category, 'forbidden');
      await refusal(egress.check('ws://api.deepgram.com/v1/listen'));
      assert.deepEqual(srv.hits, []);
    } finally {
      await egress.close();
      srv.server.close();
    }
  });
});
