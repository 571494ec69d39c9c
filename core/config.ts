import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { ServiceLaneError } from './errors.js';
import { parseEgressAllow } from './sdk/egress.js';

export type Role = 'all' | 'api' | 'voice' | 'worker';
export const ROLES: readonly Role[] = ['all', 'api', 'voice', 'worker'];

/** The validated environment contract (docs/architecture.md §5; the README's Environment table). Built once at start; nothing else reads process.env. */
export interface AppConfig {
  role: Role;
  port: number;
  publicBaseUrl: string;
  databaseUrl: string | undefined;     // undefined → embedded Postgres
  redisUrl: string | undefined;        // undefined → Postgres-backed state and queues
  dataDir: string;
  embeddedPgPort: number;
  logLevel: string;
  production: boolean;
  jwt: { secret?: string; publicKey?: string; generatedDevSecret: boolean };
  credentialsKey: Buffer;
  openai: { apiKey?: string; baseUrl?: string };
  deepgram: { apiKey?: string; baseUrl?: string };
  /** `cps`: outbound calls created per second on the account (TWILIO_CPS, default 1, Twilio's default). */
  twilio: { accountSid?: string; authToken?: string; apiBaseUrl?: string; cps: number };
  google: { apiRootUrl?: string; tokenUrl?: string; clientId?: string; clientSecret?: string; authUrl?: string; revokeUrl?: string };
  nhtsaBaseUrl: string;
  /** Extra third-party plugin packages (comma-separated npm names in PLUGIN_PACKAGES). */
  pluginPackages: string[];
  /** PLUGIN_EGRESS_ALLOW: IPs, CIDRs or exact hostnames plugins may reach although private/loopback/link-local. */
  pluginEgressAllow: string[];
  /** Proxy hops in front of the app (TRUST_PROXY_HOPS); false = use the socket address, never X-Forwarded-For. */
  trustProxyHops: number | false;
  /** Admin API requests per minute, per token and per client IP (ADMIN_RATE_LIMIT_PER_MIN). */
  adminRateLimitPerMin: number;
  /** Longest any process may serve a cached tenant/number/config after a change (CACHE_REVALIDATE_MS, ≤ 5000). */
  cacheRevalidateMs: number;
  /** On SIGTERM/SIGINT, how long live calls may run on before they hear the wrap-up line (DRAIN_TIMEOUT_MS). */
  drainTimeoutMs: number;
}

type Env = Record<string, string | undefined>;

function urlOrUndefined(env: Env, name: string, bad: string[], protocols = ['http:', 'https:']): string | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  try {
    const u = new URL(v);
    if (!protocols.includes(u.protocol)) throw new Error('protocol');
    return v.replace(/\/+$/, '');
  } catch {
    bad.push(`${name} must be a ${protocols.join(' or ')} URL`);
    return undefined;
  }
}

function intOrDefault(env: Env, o: { name: string; min: number; max: number; bad: string[] }): number | undefined {
  const v = env[o.name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < o.min || n > o.max) { o.bad.push(`${o.name} must be an integer ${o.min}-${o.max}`); return undefined; }
  return n;
}

/** Reads a dev secret from .data, creating it once; never used when the variable is set. */
function devSecret(dataDir: string, file: string, bytes: number): Buffer {
  const p = path.join(dataDir, file);
  try {
    return Buffer.from(fs.readFileSync(p, 'utf8').trim(), 'base64');
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    const v = crypto.randomBytes(bytes);
    fs.writeFileSync(p, v.toString('base64'), { mode: 0o600 });
    return v;
  }
}

/**
 * Validates the environment and fails fast with every bad variable named at once (CFG_ERR_ENV_INVALID).
 * Dev secrets are generated into `.data/` only for the `all` role outside production.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): AppConfig {
  const bad: string[] = [];
  const role = (env.ROLE ?? 'all') as Role;
  if (!ROLES.includes(role)) bad.push(`ROLE must be one of ${ROLES.join(', ')}`);
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) bad.push('PORT must be an integer 0-65535');
  const production = env.NODE_ENV === 'production';
  const dataDir = path.resolve(cwd, env.DATA_DIR ?? '.data');
  const embeddedPgPort = Number(env.EMBEDDED_PG_PORT ?? 54329);
  if (!Number.isInteger(embeddedPgPort) || embeddedPgPort <= 0 || embeddedPgPort > 65535) bad.push('EMBEDDED_PG_PORT must be a port');

  const databaseUrl = urlOrUndefined(env, 'DATABASE_URL', bad, ['postgres:', 'postgresql:']);
  const redisUrl = urlOrUndefined(env, 'REDIS_URL', bad, ['redis:', 'rediss:']);
  const publicBaseUrl = urlOrUndefined(env, 'PUBLIC_BASE_URL', bad) ?? `http://localhost:${port}`;

  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) bad.push('LOG_LEVEL must be a pino level');

  const devAllowed = role === 'all' && !production;
  let jwtSecret = env.ADMIN_JWT_SECRET || undefined;
  const jwtPublicKey = env.ADMIN_JWT_PUBLIC_KEY || undefined;
  let generatedDevSecret = false;
  if (jwtSecret !== undefined && jwtSecret.length < 32) bad.push('ADMIN_JWT_SECRET must be at least 32 characters');
  if (!jwtSecret && !jwtPublicKey) {
    if (devAllowed) { jwtSecret = devSecret(dataDir, 'dev-jwt-secret', 32).toString('base64'); generatedDevSecret = true; }
    else bad.push('ADMIN_JWT_SECRET or ADMIN_JWT_PUBLIC_KEY is required outside the all role in development');
  }

  let credentialsKey: Buffer = Buffer.alloc(0);
  if (env.CREDENTIALS_KEY) {
    credentialsKey = Buffer.from(env.CREDENTIALS_KEY, 'base64');
    if (credentialsKey.length !== 32) bad.push('CREDENTIALS_KEY must be 32 bytes, base64-encoded');
  } else if (devAllowed) credentialsKey = devSecret(dataDir, 'dev-credentials-key', 32);
  else bad.push('CREDENTIALS_KEY is required outside the all role in development');

  const accountSid = env.TWILIO_ACCOUNT_SID || undefined;
  if (accountSid && !/^AC[0-9a-fA-F]{32}$/.test(accountSid)) bad.push('TWILIO_ACCOUNT_SID must look like AC + 32 hex digits');

  const cfg: AppConfig = {
    role, port, publicBaseUrl, databaseUrl, redisUrl, dataDir, embeddedPgPort, logLevel, production,
    jwt: { secret: jwtSecret, publicKey: jwtPublicKey, generatedDevSecret },
    credentialsKey,
    openai: { apiKey: env.OPENAI_API_KEY || undefined, baseUrl: urlOrUndefined(env, 'OPENAI_BASE_URL', bad) },
    deepgram: { apiKey: env.DEEPGRAM_API_KEY || undefined, baseUrl: urlOrUndefined(env, 'DEEPGRAM_BASE_URL', bad) },
    twilio: { accountSid, authToken: env.TWILIO_AUTH_TOKEN || undefined, apiBaseUrl: urlOrUndefined(env, 'TWILIO_API_BASE_URL', bad), cps: intOrDefault(env, { name: 'TWILIO_CPS', min: 1, max: 1000, bad }) ?? 1 },
    google: {
      apiRootUrl: urlOrUndefined(env, 'GOOGLE_API_ROOT_URL', bad), tokenUrl: urlOrUndefined(env, 'GOOGLE_TOKEN_URL', bad),
      clientId: env.GOOGLE_CLIENT_ID || undefined, clientSecret: env.GOOGLE_CLIENT_SECRET || undefined,
      // The consent page and revoke endpoint (core/integrations/google); tests point them at the loopback fake.
      authUrl: urlOrUndefined(env, 'GOOGLE_AUTH_URL', bad), revokeUrl: urlOrUndefined(env, 'GOOGLE_REVOKE_URL', bad),
    },
    nhtsaBaseUrl: urlOrUndefined(env, 'NHTSA_BASE_URL', bad) ?? 'https://vpic.nhtsa.dot.gov',
    pluginPackages: (env.PLUGIN_PACKAGES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    pluginEgressAllow: (env.PLUGIN_EGRESS_ALLOW ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    trustProxyHops: intOrDefault(env, { name: 'TRUST_PROXY_HOPS', min: 0, max: 10, bad }) ?? false,
    adminRateLimitPerMin: intOrDefault(env, { name: 'ADMIN_RATE_LIMIT_PER_MIN', min: 1, max: 1_000_000, bad }) ?? 600,
    // Capped so the documented staleness bound (≤ 5 s, README "Caches across processes") can't be configured away.
    cacheRevalidateMs: intOrDefault(env, { name: 'CACHE_REVALIDATE_MS', min: 0, max: 5000, bad }) ?? 2000,
    // Voice pods wait out the longest call (maxCallSec default 900 s; the chart's grace period is longer);
    // other roles hold at most a call or two in flight and should stop promptly.
    drainTimeoutMs: intOrDefault(env, { name: 'DRAIN_TIMEOUT_MS', min: 0, max: 24 * 3_600_000, bad }) ?? (role === 'voice' ? 900_000 : 10_000),
  };
  const badEgress = parseEgressAllow(cfg.pluginEgressAllow).bad;
  if (badEgress.length) bad.push(`PLUGIN_EGRESS_ALLOW entries must be IPs, CIDRs or hostnames (bad: ${badEgress.join(', ')})`);
  if (bad.length) throw new ServiceLaneError('CFG_ERR_ENV_INVALID', `invalid environment: ${bad.join('; ')}`, { variables: bad });
  return cfg;
}

/** Provider keys a live call needs; the start banner lists the missing ones. */
export function missingProviderKeys(cfg: AppConfig): string[] {
  const missing: string[] = [];
  if (!cfg.openai.apiKey) missing.push('OPENAI_API_KEY');
  if (!cfg.deepgram.apiKey) missing.push('DEEPGRAM_API_KEY');
  if (!cfg.twilio.accountSid) missing.push('TWILIO_ACCOUNT_SID');
  if (!cfg.twilio.authToken) missing.push('TWILIO_AUTH_TOKEN');
  return missing;
}
