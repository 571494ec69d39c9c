import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from '../helpers/process.js';
import { stopOrphanPostgres } from '../../core/db/embedded.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Postgres processes whose command line names this data dir (a postmaster and its children). */
function postgresProcessesFor(dataDir: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (comm === 'postgres' && cmd.includes(dataDir)) out.push(Number(entry));
    } catch { /* exited while we looked */ }
  }
  return out;
}

function waitExit(child: ChildProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
  });
}

describe('npm start (e2e: embedded Postgres, no Redis)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let child: ChildProcess | undefined;
  let stdout = '';
  let stderr = '';
  let port: number;

  before(async () => {
    // As root the cluster runs as the OS user postgres, which must traverse the data dir's parents.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-start-'));
    fs.chmodSync(dataDir, 0o755);
    port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp',
      DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()),
    };
    // `npm start` itself, with DATABASE_URL and REDIS_URL unset, in its own process group as a terminal runs it
    // (so Ctrl-C below reaches npm, node and anything else in that group, as it would from a keyboard).
    env.PATH = `${path.dirname(process.execPath)}:${env.PATH}`;
    child = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  });

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      if (!(await waitExit(child, 15_000))) { child.kill('SIGKILL'); await waitExit(child, 5_000); }
    }
    if (dataDir) {
      await stopOrphanPostgres(path.join(dataDir, 'pg'));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('serves /readyz 200 with embedded Postgres and Postgres-backed state', async () => {
    let last = '';
    for (const end = Date.now() + 60_000; Date.now() < end;) {
      if (child!.exitCode !== null) assert.fail(`npm start exited with ${child!.exitCode}:\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        last = `${r.status} ${await r.text()}`;
        if (r.status === 200) break;
      } catch (e) { last = (e as Error).message; }
      await sleep(250);
    }
    assert.match(last, /^200 /, `readyz never became ready: ${last}\n${stderr.slice(-3000)}`);
    const body = JSON.parse(last.slice(4)) as { state: string; migrations: { done: boolean } };
    assert.equal(body.state, 'postgres');
    assert.equal(body.migrations.done, true);
    assert.ok(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION')), 'the cluster lives under DATA_DIR/pg');
  });

  it('prints a banner with the demo number and a dev token that works against the admin API', async () => {
    for (const end = Date.now() + 30_000; Date.now() < end && !/admin token:\s+\S+/.test(stdout);) await sleep(100);
    assert.match(stdout, /demo number:\s+\+14085550123/);
    assert.match(stdout, /Twilio webhook:\s+http:\/\/localhost:\d+\/twilio\/voice/);
    assert.match(stdout, /state \+ queues:\s+Postgres/);
    assert.match(stdout, /database:\s+embedded Postgres/);
    assert.match(stdout, /live calls need: .*OPENAI_API_KEY/);
    const secret = fs.readFileSync(path.join(dataDir, 'dev-jwt-secret'), 'utf8').trim();
    assert.ok(!stdout.includes(secret), 'the banner never prints the signing secret');
    const token = /admin token:\s+(\S+)/.exec(stdout)![1]!;
    const tenantId = /demo tenant:\s+([0-9a-z]{26})/.exec(stdout)![1]!;
    const r = await fetch(`http://127.0.0.1:${port}/admin/v1/tenants`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const body = await r.json() as { items: { id: string; slug: string }[] };
    assert.deepEqual(body.items.map((t) => [t.id, t.slug]), [[tenantId, 'demo']]);
    const c = await fetch(`http://127.0.0.1:${port}/admin/v1/tenants/${tenantId}/customers?phone=%2B14086137788`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(((await c.json()) as { items: { lastName: string }[] }).items[0]?.lastName, 'Khani');
  });

  it('shuts down cleanly on Ctrl-C (SIGINT to the process group): no warnings, a final line, no postgres behind', async () => {
    assert.ok(postgresProcessesFor(dataDir).length > 0, 'the embedded cluster was running');
    process.kill(-child!.pid!, 'SIGINT');
    const res = await waitExit(child!, 30_000);
    assert.ok(res, 'exited within 30 s');
    assert.equal(res.code, 0, `exit code (signal ${res.signal}); stderr:\n${stderr.slice(-2000)}`);
    // The embedded postmaster runs in its own session, so the keyboard's SIGINT can't stop it under the drain.
    assert.doesNotMatch(stdout + stderr, /"level":[456]0|Error|Unhandled/, `no warnings or errors on Ctrl-C:\n${(stdout + stderr).slice(-3000)}`);
    assert.match(stdout.trimEnd().split('\n').at(-1) ?? '', /"msg":"servicelane stopped"/, 'the last line says it stopped');
    for (let i = 0; i < 40 && postgresProcessesFor(dataDir).length; i++) await sleep(100);
    assert.deepEqual(postgresProcessesFor(dataDir), [], 'no orphan postgres');
    assert.equal(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid')), false);
  });
});

describe('npm start on a busy PORT (e2e)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let blocker: net.Server;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-busy-'));
    fs.chmodSync(dataDir, 0o755);
    blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
  });

  after(async () => {
    await new Promise<void>((r) => blocker.close(() => r()));
    await stopOrphanPostgres(path.join(dataDir, 'pg'));
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints one coded line (CFG_ERR_PORT_IN_USE), exits non-zero and stops the embedded Postgres it started', async () => {
    const port = (blocker.address() as net.AddressInfo).port;
    const env: Record<string, string> = {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? '/tmp',
      DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(await freePort()),
    };
    const child = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const res = await waitExit(child, 90_000);
    assert.ok(res, 'exited by itself');
    assert.notEqual(res.code, 0);
    const ours = stderr.split('\n').filter((l) => l.startsWith('servicelane'));
    assert.deepEqual(ours, [`servicelane failed to start: CFG_ERR_PORT_IN_USE: port ${port} is already in use; stop the other process or set PORT`]);
    assert.doesNotMatch(stdout + stderr, /\n\s+at /, 'no stack trace');
    assert.ok(fs.existsSync(path.join(dataDir, 'pg', 'PG_VERSION')), 'the embedded cluster had started');
    assert.deepEqual(postgresProcessesFor(dataDir), [], 'and was stopped');
    assert.equal(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid')), false);
  });
});
