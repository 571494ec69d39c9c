import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../core/errors.js';

const README = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../README.md'), 'utf8');

/** Rows of the error-code table: `| `CODE` | status | meaning |`, between the markers. */
function errorTable(): Map<string, number> {
  const start = README.indexOf('<!-- ERROR_CODES:BEGIN -->');
  const end = README.indexOf('<!-- ERROR_CODES:END -->');
  assert.ok(start >= 0 && end > start, 'README has the error-code table markers');
  const rows = new Map<string, number>();
  for (const line of README.slice(start, end).split('\n')) {
    const m = /^\|\s*`([A-Z]+_ERR_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*\S/.exec(line);
    if (!m) continue;
    assert.ok(!rows.has(m[1]!), `${m[1]} appears twice in the README table`);
    rows.set(m[1]!, Number(m[2]));
  }
  return rows;
}

describe('README', () => {
  it('lists every error code of core/errors.ts with its HTTP status', () => {
    const table = errorTable();
    const missing = Object.keys(ERROR_CODES).filter((c) => !table.has(c));
    assert.deepEqual(missing, [], 'codes missing from the README table');
    for (const [code, spec] of Object.entries(ERROR_CODES)) assert.equal(table.get(code), spec.status, `${code} status`);
  });

  it('lists no code that core/errors.ts does not define', () => {
    const unknown = [...errorTable().keys()].filter((c) => !(c in ERROR_CODES));
    assert.deepEqual(unknown, []);
  });

  it('gives the two commands and documents every environment variable core/config.ts reads', () => {
    assert.ok(README.includes('npm install && npm start'));
    assert.ok(README.includes('npm test'));
    const configSrc = fs.readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../core/config.ts'), 'utf8');
    const vars = new Set([...configSrc.matchAll(/env(?:\.|\[')([A-Z][A-Z0-9_]+)/g), ...configSrc.matchAll(/name: '([A-Z][A-Z0-9_]+)'/g), ...configSrc.matchAll(/urlOrUndefined\(env, '([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]!));
    assert.ok(vars.size >= 20, `found ${vars.size} variables in config.ts`);
    for (const v of vars) assert.ok(README.includes(`\`${v}\``), `${v} is not in the README environment table`);
  });
});
