import crypto from 'node:crypto';
import pg from 'pg';

/** The machine's Postgres (CI starts it); each test run gets its own database so parallel runs never meet. */
export const ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestDatabase { url: string; name: string; drop(): Promise<void> }

export async function createTestDatabase(label = 'sl'): Promise<TestDatabase> {
  const name = `${label}_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try { await admin.query(`create database "${name}"`); } finally { await admin.end(); }
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    name,
    drop: async () => {
      const a = new pg.Client({ connectionString: ADMIN_URL });
      await a.connect();
      try { await a.query(`drop database if exists "${name}" with (force)`); } finally { await a.end(); }
    },
  };
}

/** A fresh key prefix for one test's soft state in the shared Redis. */
export function uniquePrefix(): string {
  return `t${crypto.randomBytes(4).toString('hex')}:`;
}
