import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from '../helpers/process.js';
import { readEmbeddedLock, stopOrphanPostgres } from '../../core/db/embedded.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

interface Run { child: ChildProcess; out: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

/** Runs a package script the way npm does (tsx <file>), in the shared DATA_DIR. */
function run(script: string, o: { env: Record<string, string>; args?: string[]; stdin?: string }): Run {
  const child = spawn(path.join(ROOT, 'node_modules/.bin/tsx'), [script, ...(o.args ?? [])], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...o.env }, stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  if (o.stdin !== undefined) child.stdin!.end(o.stdin);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, out: () => out, exit };
}

async function readyz(port: number, r: Run, ms = 90_000): Promise<number> {
  let last = '';
  for (const end = Date.now() + ms; Date.now() < end; await sleep(250)) {
    if (r.child.exitCode !== null) assert.fail(`server exited with ${r.child.exitCode}:\n${r.out().slice(-3000)}`);
    try { const res = await fetch(`http://127.0.0.1:${port}/readyz`); if (res.status === 200) return 200; last = String(res.status); } catch (e) { last = (e as Error).message; }
  }
  assert.fail(`/readyz never answered 200 (last: ${last})\n${r.out().slice(-3000)}`);
}

const postmasterPid = (dataDir: string) => Number(fs.readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);

describe('one owner of the embedded cluster (e2e: DATA_DIR/pg.lock)', function () {
  this.timeout(300_000);
  let dataDir: string;
  let pgPort: number;
  const runs: Run[] = [];
  const env = (port: number, extra: Record<string, string> = {}) => ({ DATA_DIR: dataDir, PORT: String(port), EMBEDDED_PG_PORT: String(pgPort), LOG_LEVEL: 'warn', ...extra });

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-owner-'));
    fs.chmodSync(dataDir, 0o755); // as root the cluster runs as postgres, which must enter it
    pgPort = await freePort();
  });
  after(async () => {
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    const lock = dataDir ? readEmbeddedLock(path.join(dataDir, 'pg.lock')) : null;
    if (lock && alive(lock.pid)) process.kill(lock.pid, 'SIGKILL');
    if (dataDir) { await sleep(200); await stopOrphanPostgres(path.join(dataDir, 'pg')); fs.rmSync(dataDir, { recursive: true, force: true }); }
  });

  it('A owns it; a second npm start refuses, the console reuses it, and neither stops it; after kill -9 of A the next start cleans the orphan', async () => {
    // Owner A.
    const aPort = await freePort();
    const a = run('core/main.ts', { env: env(aPort) });
    runs.push(a);
    await readyz(aPort, a);
    const lock = readEmbeddedLock(path.join(dataDir, 'pg.lock'));
    assert.ok(lock, 'A wrote DATA_DIR/pg.lock');
    assert.equal(lock.port, pgPort);
    assert.equal(lock.command, 'npm start');
    assert.ok(alive(lock.pid));
    const postmaster = postmasterPid(dataDir);

    // B: a second `npm start` refuses, naming A's pid and port, and leaves A's cluster alone.
    const b = run('core/main.ts', { env: env(await freePort()) });
    runs.push(b);
    const bExit = await b.exit;
    assert.equal(bExit.code, 1, b.out());
    assert.match(b.out(), new RegExp(`CFG_ERR_EMBEDDED_PG_IN_USE`));
    assert.match(b.out(), new RegExp(`owned by a running process \\(pid ${lock.pid}, "npm start", port ${pgPort}\\)`));
    assert.match(b.out(), new RegExp(`DATABASE_URL=postgres://postgres:[^@]+@127\\.0\\.0\\.1:${pgPort}/postgres`));
    assert.doesNotMatch(b.out(), /\n\s+at /, 'a clear message, not a stack trace');

    // C: the console reuses the running cluster, talks to the demo dealership, exits 0, and leaves it running.
    const c = run('scripts/console.ts', { env: env(0, { OPENAI_API_KEY: 'sk-test' }), args: ['--tenant', 'demo'], stdin: '/quit\n' });
    runs.push(c);
    const cExit = await c.exit;
    assert.equal(cExit.code, 0, c.out());
    assert.match(c.out(), /agent>/);

    assert.equal(await readyz(aPort, a, 10_000), 200, 'A still ready after B and C exited');
    assert.equal(postmasterPid(dataDir), postmaster, 'the same postmaster, never restarted');
    assert.ok(alive(postmaster));
    assert.deepEqual(readEmbeddedLock(path.join(dataDir, 'pg.lock')), lock, 'A still holds the lock');

    // kill -9 the owner: its postmaster is orphaned and the lock names a dead pid.
    process.kill(lock.pid, 'SIGKILL');
    await a.exit;
    for (let i = 0; i < 50 && alive(lock.pid); i++) await sleep(100);
    assert.ok(alive(postmaster), 'the orphaned postmaster kept running');

    // D: the next starter takes over the stale lock, stops the orphan, and starts its own cluster.
    const dPort = await freePort();
    const d = run('core/main.ts', { env: env(dPort) });
    runs.push(d);
    await readyz(dPort, d);
    assert.equal(alive(postmaster), false, 'the orphan was stopped');
    assert.notEqual(postmasterPid(dataDir), postmaster);
    const dLock = readEmbeddedLock(path.join(dataDir, 'pg.lock'))!;
    assert.notEqual(dLock.pid, lock.pid);
    assert.ok(alive(dLock.pid));

    // D stops cleanly: cluster down, lock gone.
    d.child.kill('SIGINT');
    assert.equal((await d.exit).code, 0, d.out().slice(-2000));
    for (let i = 0; i < 50 && fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid')); i++) await sleep(100);
    assert.equal(fs.existsSync(path.join(dataDir, 'pg', 'postmaster.pid')), false, 'cluster stopped');
    assert.equal(fs.existsSync(path.join(dataDir, 'pg.lock')), false, 'lock released');
  });
});
