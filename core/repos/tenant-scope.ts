import type { Knex } from 'knex';

/**
 * Runs `fn` in a transaction scoped to one tenant's schema (TenantService.withTenant bound to a tenant id).
 * Repositories take this, never a raw handle, so every statement they issue is tenant-scoped.
 */
export type TenantScope = <T>(fn: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;
