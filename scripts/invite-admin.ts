/**
 * `npm run invite-admin -- --email ops@example.com`: bootstraps the console's first platform admin. Prints a
 * one-time invitation link (valid 72 h) to open in a browser and choose a password. Uses the same database as
 * `npm start` (the embedded Postgres when DATABASE_URL is unset, shared with a running server).
 */
import { loadConfig } from '../core/config.js';
import { buildPlatform } from '../core/app.js';
import { createLogger } from '../core/observability/logger.js';
import { isServiceLaneError } from '../core/errors.js';

const USAGE = 'usage: npm run invite-admin -- --email <address>\n';
const args = process.argv.slice(2);
const i = args.indexOf('--email');
const email = i >= 0 ? args[i + 1] : undefined;
if (!email || args.length !== 2) { process.stderr.write(USAGE); process.exit(64); }

const cfg = loadConfig();
const p = await buildPlatform(cfg, {
  logger: createLogger({ level: 'warn', production: cfg.production }), migrateTenants: false,
  embedded: { ifOwned: 'reuse', command: 'npm run invite-admin' },
});
try {
  const by = { sub: 'npm run invite-admin', role: 'platform_admin' as const, tenant: null };
  const inv = await p.accounts.invite({ by, email, role: 'platform_admin', tenantId: null });
  await p.tenants.audit({ actor: by.sub, role: by.role, action: 'user.invite', target: inv.email, details: { role: 'platform_admin', delivered: 'printed' } });
  process.stdout.write(`Invitation for ${inv.email} (platform_admin), valid once until ${inv.expiresAt.toISOString()}:\n${cfg.publicBaseUrl.replace(/\/$/, '')}/console/#/accept/${inv.token}\n`);
} catch (e) {
  process.stderr.write(`${isServiceLaneError(e) ? `${e.code}: ` : ''}${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await p.close();
}
