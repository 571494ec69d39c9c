import { E164_PATTERN } from '../../sdk/phone.js';
import { ok, PAGE_QUERY, paged, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';

interface CustomersQuery { phone?: string; name?: string; limit: number; offset: number }

/** A dealership's customers with their vehicles (read-only, through withTenant). */
export const customerRoutes: RouteDef[] = [
  tenantRoute<CustomersQuery>({
    method: 'get', path: '/tenants/:id/customers', operationId: 'listCustomers', summary: 'Customers (with vehicles) by exact phone or name prefix', tags: ['data'], action: 'data.customers',
    query: {
      type: 'object', additionalProperties: false,
      properties: { phone: { type: 'string', pattern: E164_PATTERN }, name: { type: 'string', minLength: 1, maxLength: 100 }, ...PAGE_QUERY },
    },
    responses: { 200: ok('customers', paged(ref('Customer'))), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t, query: q }) => {
      const items = await p.tenants.withTenant(t.id, async (trx) => {
        const qb = trx('customers').select('id', 'first_name', 'last_name', 'phone', 'email', 'zip', 'created_at')
          .orderBy([{ column: 'last_name' }, { column: 'first_name' }, { column: 'id' }]).limit(q.limit).offset(q.offset);
        if (q.phone) qb.where('phone', q.phone);
        if (q.name) {
          const like = `${q.name.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          qb.where((w) => w.whereRaw('lower(first_name) like ?', [like]).orWhereRaw('lower(last_name) like ?', [like])
            .orWhereRaw(`lower(first_name || ' ' || last_name) like ?`, [like]));
        }
        const customers: { id: string; first_name: string; last_name: string; phone: string | null; email: string | null; zip: string | null; created_at: Date }[] = await qb;
        const vehicles: { id: string; customer_id: string; vin: string | null; year: number | null; make: string | null; model: string | null; mileage: number | null }[] = customers.length
          ? await trx('vehicles').whereIn('customer_id', customers.map((c) => c.id)).select('id', 'customer_id', 'vin', 'year', 'make', 'model', 'mileage').orderBy('year', 'desc')
          : [];
        return customers.map((c) => ({
          id: c.id, firstName: c.first_name, lastName: c.last_name, phone: c.phone, email: c.email, zip: c.zip, createdAt: c.created_at,
          vehicles: vehicles.filter((v) => v.customer_id === c.id).map((v) => ({ id: v.id, vin: v.vin, year: v.year, make: v.make, model: v.model, mileage: v.mileage })),
        }));
      });
      res.json({ items, limit: q.limit, offset: q.offset });
    },
  }),
];
