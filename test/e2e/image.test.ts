// The image, without a Docker engine: this parses the repository's Dockerfile and performs its steps — every COPY
// (honouring .dockerignore), every RUN, the ENV and the CMD — in a clean temporary folder per stage, then starts
// the CMD against a fresh database with REDIS_URL unset, checks /readyz and a clean SIGTERM exit. Because the
// steps come from the Dockerfile itself, editing it (a missing COPY, a dev-only dependency at run time, a CMD
// through npm) fails here. The one step not executed is the OS package layer (`apt-get install tini`): it would
// install into this machine, not an image; the test checks it installs tini and that tini is the ENTRYPOINT.
// This is the suite's only heavy test: two `npm ci` runs and a build (minutes on a busy machine).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { descendants, freePort, processesMatching, stillAlive, stopChild, waitExit, waitReady } from '../helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

type Step =
  | { op: 'WORKDIR'; dir: string }
  | { op: 'COPY'; from?: string; srcs: string[]; dest: string }
  | { op: 'RUN'; cmd: string; mounts: string[] }
  | { op: 'ENV'; key: string; value: string }
  | { op: 'USER'; user: string }
  | { op: 'EXPOSE'; port: number }
  | { op: 'ENTRYPOINT'; argv: string[] }
  | { op: 'CMD'; argv: string[] };
interface Stage { name: string; base: string; steps: Step[] }

/** The Dockerfile as stages of steps. Anything this test can't perform faithfully is an error, not a skip. */
export function parseDockerfile(text: string): { stages: Stage[]; instructions: string[] } {
  const stages: Stage[] = [];
  const instructions: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    assert.ok(!line.endsWith('\\'), `line continuations are not supported by the image test: ${line}`);
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `not an instruction: ${line}`);
    const [, op, rest] = m as unknown as [string, string, string];
    instructions.push(op);
    if (op === 'FROM') {
      const f = /^(\S+)\s+AS\s+(\S+)$/i.exec(rest);
      assert.ok(f, `FROM needs "<image> AS <name>": ${line}`);
      stages.push({ base: f[1]!, name: f[2]!, steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    assert.ok(stage, `${op} before FROM`);
    switch (op) {
      case 'WORKDIR': stage.steps.push({ op, dir: rest }); break;
      case 'COPY': {
        const words = rest.split(/\s+/);
        let from: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift()!;
          const fm = /^--from=(\S+)$/.exec(flag);
          assert.ok(fm, `unsupported COPY flag ${flag}`);
          from = fm[1];
        }
        assert.ok(words.length >= 2, `COPY needs a source and a destination: ${line}`);
        stage.steps.push({ op, from, srcs: words.slice(0, -1), dest: words.at(-1)! });
        break;
      }
      case 'RUN': {
        const mounts: string[] = [];
        let cmd = rest;
        for (let mm = /^--mount=(\S+)\s+/.exec(cmd); mm; mm = /^--mount=(\S+)\s+/.exec(cmd)) { mounts.push(mm[1]!); cmd = cmd.slice(mm[0].length); }
        assert.ok(!cmd.startsWith('--'), `unsupported RUN flag: ${line}`);
        stage.steps.push({ op, cmd, mounts });
        break;
      }
      case 'ENV': {
        const e = /^(\w+)=(\S+)$/.exec(rest);
        assert.ok(e, `ENV must be KEY=value: ${line}`);
        stage.steps.push({ op, key: e[1]!, value: e[2]! });
        break;
      }
      case 'USER': stage.steps.push({ op, user: rest }); break;
      case 'EXPOSE': stage.steps.push({ op, port: Number(rest) }); break;
      case 'ENTRYPOINT': case 'CMD': {
        const argv = JSON.parse(rest) as unknown;
        assert.ok(Array.isArray(argv) && argv.every((a) => typeof a === 'string'), `${op} must be exec form (a JSON array): ${line}`);
        stage.steps.push({ op: op as 'ENTRYPOINT' | 'CMD', argv: argv as string[] } as Step);
        break;
      }
      default: assert.fail(`the image test does not know how to perform ${op}: ${line}`);
    }
  }
  return { stages, instructions };
}

/** .dockerignore as a predicate over context-relative paths (the simple patterns this repository uses). */
function dockerignore(): (rel: string) => boolean {
  const patterns = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const res = patterns.map((p) => {
    assert.ok(!p.startsWith('!'), `negated .dockerignore patterns are not supported by the image test: ${p}`);
    const glob = p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '(.*/)?').replace(/\*/g, '[^/]*');
    return new RegExp(`^${glob}(/.*)?$`);
  });
  return (rel) => res.some((r) => r.test(rel) || r.test(path.basename(rel)));
}

const DOCKERFILE = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const { stages, instructions } = parseDockerfile(DOCKERFILE);
const runtime = stages.at(-1)!;
const stepsOf = <K extends Step['op']>(s: Stage, op: K) => s.steps.filter((x): x is Extract<Step, { op: K }> => x.op === op);
/** The one RUN that installs OS packages; performed by the image build only (see the header). */
const OS_PACKAGES = /^apt-get update && apt-get install -y --no-install-recommends ([a-z0-9 -]+) && rm -rf \/var\/lib\/apt\/lists\/\*$/;

describe('the Dockerfile', () => {
  it('builds on Node 24 slim in two stages and runs a non-root user, tini as PID 1 and node directly', () => {
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages) assert.match(s.base, /^node:24(\.\d+){0,2}-bookworm-slim$/, `stage ${s.name} pins the Node 24 slim image`);
    const user = stepsOf(runtime, 'USER').at(-1)?.user;
    assert.ok(user && !['root', '0', '0:0'].includes(user), `runtime USER is non-root (${user})`);
    assert.deepEqual(stepsOf(runtime, 'ENTRYPOINT').at(-1)?.argv, ['tini', '--']);
    const cmd = stepsOf(runtime, 'CMD').at(-1)?.argv;
    assert.deepEqual(cmd, ['node', 'dist/core/main.js'], 'exec-form CMD runs node itself, not npm (npm does not forward SIGTERM)');
    assert.ok(!instructions.includes('HEALTHCHECK'), 'probes live in the chart, not the image');
    const osRun = stepsOf(runtime, 'RUN').map((r) => OS_PACKAGES.exec(r.cmd)).find(Boolean);
    assert.ok(osRun && osRun[1]!.split(' ').includes('tini'), 'the runtime stage installs the Debian tini package');
    assert.ok(stepsOf(runtime, 'RUN').some((r) => /^npm ci\b.*--omit=dev/.test(r.cmd)), 'the runtime stage installs production dependencies only');
  });

  it('sends nothing the runtime does not need: every COPY source exists and is not excluded by .dockerignore', () => {
    const ignored = dockerignore();
    for (const s of stages) {
      for (const c of stepsOf(s, 'COPY').filter((c) => !c.from)) {
        for (const src of c.srcs) {
          assert.ok(fs.existsSync(path.join(ROOT, src)), `${s.name}: COPY ${src} exists`);
          assert.equal(ignored(src), false, `${s.name}: COPY ${src} is excluded by .dockerignore`);
        }
      }
    }
    for (const secret of ['.data', '.env', 'node_modules', '.git']) assert.ok(ignored(secret), `.dockerignore keeps ${secret} out of the build context`);
  });
});

describe('the image, built and started without Docker (e2e, slow)', function () {
  this.timeout(20 * 60_000);
  let work: string;
  let db: TestDatabase;
  let child: ChildProcess | undefined;
  let output = '';
  const performed: string[] = [];
  const stageDir = new Map<string, string>();
  const stageEnv = new Map<string, Record<string, string>>();
  let buildMs = 0;

  /** Where a path inside a stage's filesystem lives in our temp folder (WORKDIR is the stage's folder). */
  const inStage = (stage: string, workdir: string, p: string): string => {
    const abs = path.posix.resolve(workdir, p);
    assert.ok(abs === workdir || abs.startsWith(`${workdir}/`), `${stage}: ${p} is outside WORKDIR ${workdir}; the image test maps WORKDIR only`);
    return path.join(stageDir.get(stage)!, abs.slice(workdir.length));
  };

  const run = (o: { cmd: string; cwd: string; env: Record<string, string> }): Promise<void> => new Promise((resolve, reject) => {
    // The node running this test goes first on PATH, so CI builds with the Node it tests on (24).
    const env = {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: process.env.HOME ?? '/root',
      // The Dockerfile's npm cache is a BuildKit cache mount; here the machine's npm cache plays that part.
      npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', ...o.env,
    };
    const p = spawn('sh', ['-c', o.cmd], { cwd: o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`RUN ${o.cmd} exited ${code}:\n${out.slice(-4000)}`))));
  });

  before(async () => {
    const t0 = Date.now();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'sl-image-'));
    const ignored = dockerignore();
    for (const s of stages) {
      const dir = path.join(work, s.name);
      fs.mkdirSync(dir);
      stageDir.set(s.name, dir);
      const env: Record<string, string> = {};
      stageEnv.set(s.name, env);
      let workdir = '';
      for (const step of s.steps) {
        switch (step.op) {
          case 'WORKDIR': workdir = step.dir; break;
          case 'ENV': env[step.key] = step.value; break;
          case 'COPY': {
            assert.ok(workdir, `${s.name}: COPY before WORKDIR`);
            for (const src of step.srcs) {
              let from: string;
              if (step.from) {
                const other = stages.find((x) => x.name === step.from);
                assert.ok(other && stageDir.has(other.name), `COPY --from=${step.from}: no earlier stage of that name`);
                const otherWorkdir = stepsOf(other, 'WORKDIR').at(-1)!.dir;
                from = inStage(other.name, otherWorkdir, src);
              } else from = path.join(ROOT, src);
              const toDir = step.dest.endsWith('/') || step.srcs.length > 1;
              const to = toDir ? path.join(inStage(s.name, workdir, step.dest), path.basename(src)) : inStage(s.name, workdir, step.dest);
              assert.ok(fs.existsSync(from), `COPY source ${src} exists`);
              fs.cpSync(from, to, {
                recursive: true,
                filter: (f) => step.from !== undefined || !ignored(path.relative(ROOT, f)),
              });
            }
            performed.push(`${s.name}: COPY ${step.from ? `--from=${step.from} ` : ''}${step.srcs.join(' ')} ${step.dest}`);
            break;
          }
          case 'RUN': {
            if (OS_PACKAGES.test(step.cmd)) { performed.push(`${s.name}: (not run here: OS packages) ${step.cmd}`); break; }
            for (const m of step.mounts) assert.match(m, /^type=cache,target=\/root\/\.npm$/, `${s.name}: only the npm cache mount is understood`);
            await run({ cmd: step.cmd, cwd: inStage(s.name, workdir, '.'), env });
            performed.push(`${s.name}: RUN ${step.cmd}`);
            break;
          }
          case 'USER': case 'EXPOSE': case 'ENTRYPOINT': case 'CMD': break;
        }
      }
    }
    buildMs = Date.now() - t0;
    // Printed for the record (wall time of the two installs and the build on this machine), not asserted.
    process.stdout.write(`      image steps performed in ${(buildMs / 1000).toFixed(0)} s:\n${performed.map((p) => `        ${p}`).join('\n')}\n`);
    db = await createTestDatabase('img');
  });

  after(async () => {
    await stopChild(child);
    await db?.drop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  const runtimeDir = () => stageDir.get(runtime.name)!;
  const runtimeEnv = (extra: Record<string, string>): Record<string, string> => ({
    PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: os.tmpdir(),
    ...stageEnv.get(runtime.name), ...extra,
  });
  const secrets = { ADMIN_JWT_SECRET: 'image-test-secret-image-test-secret-0123', CREDENTIALS_KEY: Buffer.alloc(32, 9).toString('base64') };

  it('holds production dependencies only, the compiled code and the files read at run time', () => {
    const dir = runtimeDir();
    for (const dev of ['typescript', 'mocha', 'eslint', 'supertest', '@types/node']) {
      assert.equal(fs.existsSync(path.join(dir, 'node_modules', dev)), false, `dev dependency ${dev} is not in the runtime stage`);
    }
    for (const f of ['dist/core/main.js', 'dist/scripts/migrate.js', 'migrations/platform', 'migrations/tenant', 'tenants/schema/dealership.schema.json', 'node_modules/express']) {
      assert.ok(fs.existsSync(path.join(dir, f)), `${f} is in the runtime stage`);
    }
    assert.equal(fs.existsSync(path.join(dir, 'core')), false, 'no TypeScript sources at run time');
    assert.equal(fs.existsSync(path.join(dir, 'test')), false, 'no tests in the image');
  });

  it('runs the migrate Job command (node dist/scripts/migrate.js) against a fresh database', async () => {
    const p = spawn('node', ['dist/scripts/migrate.js'], { cwd: runtimeDir(), env: runtimeEnv({ DATABASE_URL: db.url, ...secrets }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const res = await waitExit(p, 120_000);
    assert.equal(res?.code, 0, out);
    assert.match(out, /platform schema .*applied 001_platform/);
  });

  it('starts the CMD with REDIS_URL unset: /readyz 200, Postgres-backed state', async () => {
    const port = await freePort();
    const argv = stepsOf(runtime, 'CMD').at(-1)!.argv;
    // tini (the ENTRYPOINT) execs this argv as its only child; here the test is the parent that signals it.
    // A third-party package from outside the image (as a mounted folder would be): under plain node, from dist/,
    // it must find `@servicelane/sdk` (the registry provides it) and load without an error line (checked at SIGTERM).
    const pluginPackage = path.join(ROOT, 'examples/notify-webhook');
    child = spawn(argv[0]!, argv.slice(1), { cwd: runtimeDir(), env: runtimeEnv({ DATABASE_URL: db.url, PORT: String(port), PLUGIN_PACKAGES: pluginPackage, ...secrets }), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const ready = await waitReady({ child, url: `http://127.0.0.1:${port}/readyz`, ms: 120_000, output: () => output });
    const body = JSON.parse(ready.body) as { state: string; migrations: { done: boolean }; draining: boolean };
    assert.equal(body.state, 'postgres');
    assert.equal(body.migrations.done, true);
    assert.equal(body.draining, false);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    assert.match(output, /"plugin":"notify-webhook"[^\n]*"msg":"plugin package loaded"/, 'the example plugin package loaded from the compiled registry');
  });

  it('exits 0 on SIGTERM with a final log line and leaves no process behind', async () => {
    assert.ok(child && child.exitCode === null, 'the server is running');
    const tree = descendants(child.pid!);
    child.kill('SIGTERM');
    const res = await waitExit(child, 60_000);
    assert.ok(res, `exited within 60 s:\n${output.slice(-3000)}`);
    assert.deepEqual(res, { code: 0, signal: null }, output.slice(-3000));
    assert.match(output, /"msg":"servicelane stopped"/);
    assert.doesNotMatch(output, /"level":[56]0/, 'no error or fatal log lines during the run');
    assert.deepEqual(stillAlive(tree), [], 'every child of the server exited');
    assert.deepEqual(processesMatching(work), [], 'nothing runs from the image folder');
  });
});
