import type { TenantData } from '../sdk/index.js';
import { createAppointmentRepository } from './appointments.js';
import { createCustomerRepository } from './customers.js';
import type { TenantScope } from './tenant-scope.js';

export type { TenantScope };
export { createAppointmentRepository, createCustomerRepository };

/** The `ctx.tenantData` core grants the first-party built-ins, bound to one tenant's schema. */
export function createTenantData(scope: TenantScope): TenantData {
  return { crm: createCustomerRepository(scope), calendar: createAppointmentRepository(scope) };
}
