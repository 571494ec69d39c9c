// withTenant's scope travels with BEGIN on the platform's knex (core/db/scoped-begin.ts): one round trip less per
// tenant transaction, and the same guarantees as the separate statement: scoped before anything runs, ended with
// the transaction (commit or rollback), never leaking to the pooled connection's next borrower.
import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import { createKnex } from '../../core/db/knex.js';
import { beginsScoped, scopeSql } from '../../core/db/scoped-begin.js';
import { silentLogger } from '../../core/observability/logger.js';
import { withTenant } from '../../core/tenancy/with-tenant.js';
import { createTestDatabase } from '../helpers/db.js';

const A = 't_' + 'a'.repeat(24);
const B = 't_' + 'b'.repeat(24);
type Settings = { search_path: string; statement_timeout: string };
const settings = (trx: Knex.Transaction | Knex) => trx.raw("select current_setting('search_path') as search_path, current_setting('statement_timeout') as statement_timeout")
  .then((r: { rows: Settings[] }) => r.rows[0]!);

describe('withTenant: the scope sent with BEGIN (core/db/scoped-begin.ts)', function () {
  this.timeout(30_000);
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Knex;
  let sent: string[] = [];
  before(async () => {
    tdb = await createTestDatabase('scoped_begin');
    // One connection: every transaction below runs on the same backend, so a leaked setting would show.
    db = createKnex({ databaseUrl: tdb.url, logger: silentLogger, poolMax: 1 });
    db.on('query', (q: { sql: string }) => { sent.push(q.sql); });
  });
  after(async () => { await db?.destroy(); await tdb?.drop(); });
  beforeEach(() => { sent = []; });

  it('one request opens the transaction scoped: BEGIN with the settings, then the work, then COMMIT', async () => {
    assert.equal(beginsScoped(db), true);
    const inside = await withTenant(db, A, (trx) => settings(trx));
    assert.deepEqual(inside, { search_path: A, statement_timeout: '5s' });
    assert.equal(sent.length, 3, sent.join('\n'));
    assert.match(sent[0]!, /^BEGIN; select set_config\('search_path', 't_a{24}', true\), set_config\('statement_timeout', '5000', true\);$/);
    assert.equal(sent[2], 'COMMIT;');
  });

  it('the settings end with the transaction, committed or rolled back, on the same backend', async () => {
    const outside0 = await settings(db);
    await withTenant(db, A, (trx) => settings(trx));
    assert.deepEqual(await settings(db), outside0, 'after commit');
    await assert.rejects(withTenant(db, B, async (trx) => { assert.equal((await settings(trx)).search_path, B); throw new Error('boom'); }), /boom/);
    assert.deepEqual(await settings(db), outside0, 'after rollback');
    // Alternating tenants on the one backend: each transaction sees its own.
    for (let i = 0; i < 20; i++) {
      const s = i % 2 ? A : B;
      assert.equal((await withTenant(db, s, (trx) => settings(trx))).search_path, s);
    }
  });

  it('a schema name that is not ours never reaches the SQL (TEN_ERR_SCHEMA_NAME), and nothing is sent', async () => {
    await assert.rejects(withTenant(db, "t_x', true); drop table x; --", (trx) => settings(trx)), { code: 'TEN_ERR_SCHEMA_NAME' });
    assert.throws(() => scopeSql({ searchPath: "t_aaaaaaaaaaaaaaaaaaaa'", statementTimeoutMs: 5000 }), { code: 'TEN_ERR_SCHEMA_NAME' });
    assert.deepEqual(sent, []);
  });

  it('a knex made elsewhere (plain pg client) is scoped by a first statement instead', async () => {
    const plain = knexFactory({ client: 'pg', connection: tdb.url, pool: { min: 0, max: 1 } });
    try {
      const seen: string[] = [];
      plain.on('query', (q: { sql: string }) => { seen.push(q.sql); });
      assert.equal(beginsScoped(plain), false);
      assert.deepEqual(await withTenant(plain, A, (trx) => settings(trx)), { search_path: A, statement_timeout: '5s' });
      assert.equal(seen.length, 4, seen.join('\n'));
      assert.equal(seen[0], 'BEGIN;');
    } finally { await plain.destroy(); }
  });
});
