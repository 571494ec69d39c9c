import type express from 'express';
import type { Knex } from 'knex';
import type { AccountService } from '../accounts/accounts.js';
import type { AppConfig } from '../config.js';
import type { GoogleConnect } from '../integrations/google/connect.js';
import type { GoogleSync } from '../integrations/google/sync.js';
import type { Jobs } from '../jobs/jobs.js';
import type { Logger } from '../observability/logger.js';
import type { OutboundCalls } from '../outbound/outbound-calls.js';
import type { PluginRegistry } from '../registry/registry.js';
import type { PluginConfigIssue } from '../registry/types.js';
import type { StateStore } from '../state/store.js';
import type { Telephony } from '../telephony/telephony.js';
import type { DealershipConfig } from '../tenancy/config.js';
import type { Tenant, TenantService } from '../tenancy/tenants.js';
import { authorize, type Action } from '../accounts/policy.js';
import { ERROR_CODES, ServiceLaneError, type ErrorCode } from '../errors.js';
import { principalOf } from './auth.js';
import { allow } from './guard.js';
import { SLUG_PATTERN, TENANT_ID_PATTERN } from './validate.js';

/**
 * What the admin API uses, and nothing more: the composition root (core/app.ts) hands these in, so the API
 * depends on the services it calls, not on the platform that assembles them.
 */
export interface AdminApiDeps {
  cfg: Pick<AppConfig, 'jwt' | 'adminRateLimitPerMin'>;
  logger: Logger;
  db: Knex;
  state: StateStore;
  tenants: TenantService;
  registry: PluginRegistry;
  jobs: Jobs;
  accounts: AccountService;
  telephony: Pick<Telephony, 'configureNumber'>;
  outbound: Pick<OutboundCalls, 'now'>;
  google: { connect: GoogleConnect; sync: Pick<GoogleSync, 'stopWatching'> };
}

export const TENANT_ID_RE = new RegExp(TENANT_ID_PATTERN);
export const SLUG_RE = new RegExp(SLUG_PATTERN);

export interface AuditEntry { action: string; tenantId?: string | null; target?: string; details?: unknown }

/**
 * The helpers every route module shares: authorisation through the one policy (core/accounts/policy.ts),
 * the audit trail, and the few lookups several resources need. Built once per router from its deps.
 */
export interface RouteKit {
  audit(req: express.Request, e: AuditEntry): Promise<void>;
  /** The policy decides; a refusal is a 403 plus an audit row, since it is what an auditor wants to see. */
  guard(req: express.Request, action: Action, tenantId: string | null): Promise<void>;
  /** Authorises the path's tenant before any lookup, then loads it (404 for unknown ids). */
  tenantFor(req: express.Request, action: Action): Promise<Tenant>;
  /** The registry's view of each slot, plus what only the Google connection knows (a refused grant). */
  slotStatus(tenantId: string): Promise<Awaited<ReturnType<PluginRegistry['status']>>>;
  /** Caller numbers and tool arguments are PII: shown only to roles the policy lets read them. */
  mayReadPii(req: express.Request, tenantId: string): boolean;
  /** Registry issues of a configuration → one coded 422 (see {@link pluginConfigError}). */
  validatePlugins(config: DealershipConfig): void;
  /** A referenced credential that can't work is refused on save (422 naming the fields), not left to disable the slot silently. */
  refuseCredentialIssues(issues: PluginConfigIssue[]): void;
}

export function param(req: express.Request, name: string): string {
  const v = req.params[name];
  return typeof v === 'string' ? v : '';
}

/** The path's tenant id when it is shaped like one, for actions authorised before the tenant is loaded. */
export function pathTenantId(req: express.Request): string | null {
  const id = param(req, 'id');
  return TENANT_ID_RE.test(id) ? id : null;
}

export function tenantDto(t: Tenant) {
  return {
    id: t.id, slug: t.slug, name: t.name, schema: t.schema, status: t.status, createdAt: t.createdAt,
    configHash: t.configHash, configValid: t.config !== null,
  };
}

/** Registry issues → one 422 listing each; the first issue's code wins when it is a 422 plugin code. */
export function pluginConfigError(issues: PluginConfigIssue[]): ServiceLaneError {
  const first = issues[0]?.code;
  const code: ErrorCode = first && ERROR_CODES[first].status === 422 ? first : 'PLG_ERR_CONFIG_INVALID';
  return new ServiceLaneError(code, 'plugin configuration is invalid', { errors: issues });
}

export function createRouteKit(p: AdminApiDeps): RouteKit {
  const audit = async (req: express.Request, e: AuditEntry) => {
    const pr = principalOf(req);
    await p.tenants.audit({ actor: pr.sub, role: pr.role, tenantId: e.tenantId ?? null, action: e.action, target: e.target, ip: req.ip, details: e.details });
  };
  const guard = (req: express.Request, action: Action, tenantId: string | null) => allow({
    principal: principalOf(req), action, tenantId,
    onDeny: (reason) => audit(req, { action: 'forbidden', tenantId: tenantId && TENANT_ID_RE.test(tenantId) ? tenantId : null, target: `${req.method} ${req.originalUrl}`.slice(0, 500), details: { attempted: action, reason } }),
  });
  return {
    audit,
    guard,
    tenantFor: async (req, action) => {
      const id = param(req, 'id');
      await guard(req, action, id);
      return p.tenants.get(id);
    },
    slotStatus: async (tenantId) => {
      const slots = await p.registry.status(tenantId);
      // A Google calendar whose grant was refused still loads, so the registry calls it ok; the connection knows better.
      const cal = slots.find((s) => s.slot === 'calendar' && s.pluginId === 'calendar-google');
      if (cal && (await p.google.connect.view(tenantId)).status === 'needs_reconnect') {
        cal.needsReconnect = true;
        cal.error ??= { code: 'ADM_ERR_GOOGLE_NEEDS_RECONNECT', message: 'Google refused the stored grant; connect Google Calendar again' };
      }
      return slots;
    },
    mayReadPii: (req, tenantId) => authorize(principalOf(req), 'pii.read', tenantId).ok,
    validatePlugins: (config) => {
      const issues = p.registry.validateConfig(config);
      if (issues.length) throw pluginConfigError(issues);
    },
    refuseCredentialIssues: (issues) => {
      if (issues.length) throw new ServiceLaneError('PLG_ERR_CREDENTIALS_INVALID', issues[0]!.message, { errors: issues });
    },
  };
}
