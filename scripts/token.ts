/**
 * `npm run token -- --role platform_admin` or `--role tenant_admin --tenant <id> [--ttl 3600] [--sub name]`:
 * prints a dev admin token signed with ADMIN_JWT_SECRET, or with the generated secret in .data/ (all role,
 * development). Prints the token only, so `TOKEN=$(npm run -s token -- --role platform_admin)` works.
 */
import { loadConfig } from '../core/config.js';
import { ADMIN_ROLES, signDevToken, type AdminRole } from '../core/admin-api/auth.js';

const USAGE = 'usage: npm run token -- --role platform_admin|tenant_admin|tenant_viewer [--tenant <tenant id>] [--ttl <seconds>] [--sub <name>]\n';

function fail(msg: string): never {
  process.stderr.write(`${msg}\n${USAGE}`);
  process.exit(64);
}

function parse(argv: string[]): { role: AdminRole; tenant?: string; ttlSec: number; sub?: string } {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    if (!k.startsWith('--')) fail(`unexpected argument ${k}`);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) fail(`${k} needs a value`);
    flags.set(k.slice(2), v);
    i++;
  }
  for (const k of flags.keys()) if (!['role', 'tenant', 'ttl', 'sub'].includes(k)) fail(`unknown flag --${k}`);
  const role = flags.get('role') as AdminRole | undefined;
  if (!role || !ADMIN_ROLES.includes(role)) fail('--role must be platform_admin, tenant_admin or tenant_viewer');
  const tenant = flags.get('tenant');
  if (role !== 'platform_admin' && !tenant) fail(`--role ${role} needs --tenant <tenant id>`);
  if (role === 'platform_admin' && tenant) fail('--tenant only applies to tenant roles');
  if (tenant && !/^[0-9a-z]{26}$/.test(tenant)) fail('--tenant must be a tenant id (26 lowercase letters and digits)');
  const ttlSec = Number(flags.get('ttl') ?? 3600);
  if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > 30 * 86400) fail('--ttl must be 1..2592000 seconds');
  return { role, tenant, ttlSec, sub: flags.get('sub') };
}

const args = parse(process.argv.slice(2));
let cfg;
try { cfg = loadConfig(); } catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(78);
}
if (cfg.jwt.publicKey || !cfg.jwt.secret) {
  process.stderr.write('ADMIN_JWT_PUBLIC_KEY is set: tokens come from the issuer holding the private key, not from this script.\n');
  process.exit(78);
}
process.stdout.write(`${signDevToken({ secret: cfg.jwt.secret, role: args.role, tenant: args.tenant, ttlSec: args.ttlSec, sub: args.sub })}\n`);
