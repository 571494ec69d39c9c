import { loadConfig, type AppConfig } from '../../core/config.js';
import { buildPlatform, type BuildOptions, type Platform } from '../../core/app.js';
import { silentLogger } from '../../core/observability/logger.js';
import { createTestDatabase, TEST_REDIS_URL, uniquePrefix, type TestDatabase } from './db.js';

export interface TestPlatform { p: Platform; db: TestDatabase; cfg: AppConfig; close(): Promise<void> }

/**
 * Builds the same object graph as `npm start`, on a fresh database, with the environment the test gives
 * (fake provider URLs and keys). `state: 'postgres'` leaves REDIS_URL unset, as a Redis-less install does.
 */
export async function startTestPlatform(o: { env?: Record<string, string>; state?: 'redis' | 'postgres'; build?: Omit<BuildOptions, 'logger' | 'statePrefix'> } = {}): Promise<TestPlatform> {
  const db = await createTestDatabase();
  const env: Record<string, string | undefined> = {
    ROLE: 'all', PORT: '0', LOG_LEVEL: 'silent',
    DATABASE_URL: db.url,
    REDIS_URL: (o.state ?? 'redis') === 'redis' ? TEST_REDIS_URL : undefined,
    ADMIN_JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    CREDENTIALS_KEY: Buffer.alloc(32, 7).toString('base64'),
    PUBLIC_BASE_URL: 'https://servicelane.test',
    // The fake vendors listen on loopback, which the egress policy refuses unless the operator allows it.
    PLUGIN_EGRESS_ALLOW: '127.0.0.0/8,::1',
    ...o.env,
  };
  const cfg = loadConfig(env);
  const p = await buildPlatform(cfg, { logger: silentLogger, statePrefix: uniquePrefix(), ...o.build });
  return {
    p, db, cfg,
    close: async () => { await p.close(); await db.drop(); },
  };
}
