import { ulid } from 'ulid';
import { assertSchemaName } from '../db/schema-name.js';

export function newTenantId(): string {
  return ulid().toLowerCase();
}

export function schemaNameFor(tenantId: string): string {
  const s = `t_${tenantId}`;
  assertSchemaName(s);
  return s;
}
