// Helpers for tests that spawn the real server as a child process (start, image, drain): ports, exits, readiness
// and the process tree, read from /proc so "no child left behind" is checked, not assumed.
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
}

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

/** The child's exit, or null if it is still running after `ms`. */
export function waitExit(child: ChildProcess, ms: number): Promise<Exit | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal }); });
  });
}

/** Stops a child we spawned (SIGTERM, then SIGKILL) — for after() hooks when a test failed half-way. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitExit(child, 20_000))) { child.kill('SIGKILL'); await waitExit(child, 5_000); }
}

function statOf(pid: number): { ppid: number; comm: string } | null {
  try {
    const m = /^\d+ \((.*)\) \S (\d+)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return m ? { comm: m[1]!, ppid: Number(m[2]) } : null;
  } catch { return null; }
}

function allPids(): number[] {
  return fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
}

/** Every live descendant of `pid` (children, grandchildren, …), e.g. the embedded postmaster and its workers. */
export function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const p of allPids()) {
    const st = statOf(p);
    if (st) byParent.set(st.ppid, [...(byParent.get(st.ppid) ?? []), p]);
  }
  const out: number[] = [];
  const walk = (p: number) => { for (const c of byParent.get(p) ?? []) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

/** The pids in `pids` that are still alive (and not zombies waiting to be reaped by init). */
export function stillAlive(pids: number[]): number[] {
  return pids.filter((p) => {
    try { return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8')); } catch { return false; }
  });
}

/** Processes whose command line contains `needle` (a temp folder, a data dir). */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const p of allPids()) {
    if (p === process.pid) continue;
    try { if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(p); } catch { /* exited while we looked */ }
  }
  return out;
}

/** Polls /readyz until it answers 200; fails with the child's output if it exits or never gets ready. */
export async function waitReady(o: { child: ChildProcess; url: string; ms: number; output: () => string }): Promise<{ status: number; body: string }> {
  let last = '';
  for (const end = Date.now() + o.ms; Date.now() < end;) {
    if (o.child.exitCode !== null) throw new Error(`the server exited with ${o.child.exitCode} before it was ready:\n${o.output().slice(-4000)}`);
    try {
      const r = await fetch(o.url);
      const body = await r.text();
      last = `${r.status} ${body}`;
      if (r.status === 200) return { status: r.status, body };
    } catch (e) { last = (e as Error).message; }
    await sleep(200);
  }
  throw new Error(`readyz never answered 200 (last: ${last}):\n${o.output().slice(-4000)}`);
}
