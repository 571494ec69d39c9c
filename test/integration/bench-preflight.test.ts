import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs `npm run bench -- <args>` exactly as the script does (tsx bench/run.ts), with the environment given. */
function bench(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(ROOT, 'node_modules/.bin/tsx'), ['bench/run.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }));
  });
}

describe('npm run bench: services it needs (integration)', function () {
  this.timeout(60_000);

  it('says up front that it needs Postgres and Redis, and stops with one line naming Postgres when it is absent', async () => {
    const r = await bench(['tools'], { TEST_PG_ADMIN_URL: 'postgres://postgres@127.0.0.1:1/postgres' });
    assert.equal(r.code, 69, r.stderr);
    assert.match(r.stdout.split('\n')[0]!, /^tools bench: needs Postgres at 127\.0\.0\.1:1 \(TEST_PG_ADMIN_URL\) and Redis at 127\.0\.0\.1:6379/);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^tools bench cannot run: Postgres is not answering at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)/);
  });

  it('names Redis and the flag that avoids it when only Redis is absent', async () => {
    const r = await bench(['onboarding', '--tenants', '10', '--runs', '5'], { TEST_REDIS_URL: 'redis://127.0.0.1:1' });
    assert.equal(r.code, 69, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /Redis is not answering at 127\.0\.0\.1:1 .*or run with --state postgres/);
    assert.doesNotMatch(lines[0]!, /Postgres is not answering/);
  });
});
