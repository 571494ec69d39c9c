import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { acquireEmbeddedLock, readEmbeddedLock } from '../../core/db/embedded.js';

/** A pid that is certainly dead: a child we started and waited for. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

describe('embedded Postgres ownership lock (DATA_DIR/pg.lock)', () => {
  let dir: string;
  let lockPath: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-lock-')); lockPath = path.join(dir, 'pg.lock'); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is taken by the first process, with its pid and port, and released only by it', () => {
    const a = acquireEmbeddedLock({ lockPath, port: 54001, command: 'npm start' });
    assert.equal(a.owned, true);
    const l = readEmbeddedLock(lockPath)!;
    assert.equal(l.pid, process.pid);
    assert.equal(l.port, 54001);
    assert.deepEqual(fs.readdirSync(dir), ['pg.lock'], 'no temporary files left behind');
    if (a.owned) a.release();
    assert.equal(fs.existsSync(lockPath), false);
  });

  it('reports a live holder instead of taking its lock', () => {
    const a = acquireEmbeddedLock({ lockPath, port: 54001, command: 'npm start' });
    const b = acquireEmbeddedLock({ lockPath, port: 54002, command: 'npm run console' });
    assert.equal(b.owned, false);
    if (!b.owned) { assert.equal(b.holder.pid, process.pid); assert.equal(b.holder.port, 54001); assert.equal(b.holder.command, 'npm start'); }
    assert.equal(readEmbeddedLock(lockPath)!.port, 54001, 'the holder\'s lock is untouched');
    if (a.owned) a.release();
  });

  it('takes over a lock whose owner is dead, or whose pid now belongs to another process', async () => {
    fs.writeFileSync(lockPath, JSON.stringify({ pid: await deadPid(), startTime: '1', port: 54003, command: 'npm start', at: '' }));
    const a = acquireEmbeddedLock({ lockPath, port: 54004, command: 'npm start' });
    assert.equal(a.owned, true);
    assert.equal(readEmbeddedLock(lockPath)!.port, 54004);
    if (a.owned) a.release();
    // Our own pid, but a different start time: the pid was reused, the writer is gone.
    fs.writeFileSync(lockPath, JSON.stringify({ pid: process.pid, startTime: '1', port: 54005, command: 'npm start', at: '' }));
    const b = acquireEmbeddedLock({ lockPath, port: 54006, command: 'npm start' });
    assert.equal(b.owned, true);
    assert.equal(readEmbeddedLock(lockPath)!.port, 54006);
    assert.deepEqual(fs.readdirSync(dir), ['pg.lock']);
  });
});
