import type { Knex } from 'knex';
import { missingProviderKeys, type AppConfig } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { TenantService } from '../tenancy/tenants.js';
import { seedDemo } from '../tenancy/seed.js';
import { signDevToken } from './auth.js';
import { ADMIN_BASE_PATH } from './router.js';

/** Dev tokens outlive a working day so the banner's token keeps working until the next restart. */
const DEV_TOKEN_TTL_SEC = 12 * 3600;

/** What the banner reads: the environment, and the demo seed's services. */
export interface BannerDeps { cfg: AppConfig; logger: Logger; tenants: TenantService; db: Knex }

function describeDatabase(p: BannerDeps): string {
  if (!p.cfg.databaseUrl) return `embedded Postgres (${p.cfg.dataDir}/pg, 127.0.0.1:${p.cfg.embeddedPgPort})`;
  const u = new URL(p.cfg.databaseUrl);
  return `Postgres at ${u.hostname}:${u.port || '5432'}${u.pathname}`; // no user or password
}

function describeState(p: BannerDeps): string {
  if (!p.cfg.redisUrl) return 'Postgres (no REDIS_URL: soft state in platform.kv, queues on the BullMQ Postgres backend)';
  const u = new URL(p.cfg.redisUrl);
  return `Redis at ${u.hostname}:${u.port || '6379'}`;
}

/**
 * First-run convenience for `npm start` (role all, not production): makes sure the demo dealership exists,
 * then returns the banner text. Plain text on purpose: it is for a person at a terminal, not for log search.
 * The dev token is printed; the secret that signs it never is.
 */
export async function devStartBanner(p: BannerDeps, o: { port: number }): Promise<string> {
  const base = `http://localhost:${o.port}`;
  let demo: string;
  try {
    const d = await seedDemo(p);
    demo = `demo tenant:     ${d.tenantId}\n  demo number:     ${d.number}  (fictional 555 number: attach your Twilio number to call in)`;
  } catch (e) {
    p.logger.warn({ err: (e as Error).message }, 'demo seed skipped');
    demo = `demo tenant:     not seeded (${(e as Error).message})`;
  }
  const token = p.cfg.jwt.secret && !p.cfg.jwt.publicKey
    ? signDevToken({ secret: p.cfg.jwt.secret, role: 'platform_admin', ttlSec: DEV_TOKEN_TTL_SEC, sub: 'dev-banner' })
    : null;
  const missing = missingProviderKeys(p.cfg);
  const lines = [
    '',
    '  ServiceLane is running (role all, development)',
    '',
    `  app:             ${base}/  (lists these URLs as JSON)`,
    `  admin API:       ${base}${ADMIN_BASE_PATH}`,
    `  OpenAPI:         ${base}${ADMIN_BASE_PATH}/openapi.json`,
    `  metrics:         ${base}/metrics`,
    `  health:          ${base}/healthz  ${base}/readyz`,
    `  Twilio webhook:  ${p.cfg.publicBaseUrl}/twilio/voice  (from PUBLIC_BASE_URL)`,
    '',
    `  ${demo}`,
    token
      ? `  admin token:     ${token}\n                   (platform_admin, valid ${DEV_TOKEN_TTL_SEC / 3600} h; more with: npm run token -- --role platform_admin)`
      : '  admin token:     none (ADMIN_JWT_PUBLIC_KEY is set: sign tokens with your own issuer)',
    // Copy-pasteable as printed: the token is inline, not a $TOKEN the reader never set.
    token
      ? `  try:             curl -sS -H "Authorization: Bearer ${token}" ${base}${ADMIN_BASE_PATH}/tenants`
      : `  try:             curl -sS ${base}${ADMIN_BASE_PATH}/openapi.json`,
    '',
    `  database:        ${describeDatabase(p)}`,
    `  state + queues:  ${describeState(p)}`,
    missing.length
      ? `  live calls need: ${missing.join(', ')} (unset)`
      : '  live calls:      all provider keys are set',
    '',
    '  Ctrl-C stops the server (and the embedded Postgres) cleanly.',
    '',
  ];
  return lines.join('\n');
}
