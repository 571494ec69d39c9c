import { ServiceLaneError } from '../../errors.js';
import { instantQuery, ok, PAGE_QUERY, paged, ref, TENANT_RESPONSES, tenantRoute, type RouteDef } from '../route.js';
import { parseQueryInstants } from '../validate.js';

const DAY_MS = 86_400_000;

interface AppointmentsQuery { from?: string; to?: string; limit: number; offset: number }

/** A dealership's appointments in a time range (read-only, through withTenant). */
export const appointmentRoutes: RouteDef[] = [
  tenantRoute<AppointmentsQuery>({
    method: 'get', path: '/tenants/:id/appointments', operationId: 'listAppointments', tags: ['data'], action: 'data.appointments',
    summary: 'Appointments overlapping [from, to) (default: the next 30 days; at most 366)',
    query: {
      type: 'object', additionalProperties: false,
      properties: {
        from: instantQuery('Start (inclusive); a date means its first instant. Default: now.'),
        to: instantQuery('End (exclusive); a date means the end of that day. Default: from + 30 days.'),
        ...PAGE_QUERY,
      },
    },
    responses: { 200: ok('appointments', paged(ref('Appointment'))), ...TENANT_RESPONSES },
    handler: async ({ res, deps: p, tenant: t, query: q }) => {
      // A bare date is a day on the dealership's calendar: `from` its first instant, `to` the end of that day.
      const when = parseQueryInstants({ zone: t.config?.timezone ?? 'UTC', values: { from: q.from, to: q.to }, endOfDay: ['to'] });
      const from = when.from ?? new Date();
      const to = when.to ?? new Date(from.getTime() + 30 * DAY_MS);
      if (!(to > from) || to.getTime() - from.getTime() > 366 * DAY_MS) {
        throw new ServiceLaneError('ADM_ERR_VALIDATION', 'query string failed validation', { errors: [{ path: '/to', message: 'must be after from and at most 366 days later' }] });
      }
      const items = await p.tenants.withTenant(t.id, (trx) => trx('appointments')
        .where('starts_at', '<', to).andWhere('ends_at', '>', from)
        .select('id', 'customer_id as customerId', 'vehicle_id as vehicleId', 'customer_name as customerName', 'customer_phone as customerPhone',
          'resource_id as resourceId', 'service_type as serviceType', 'starts_at as startsAt', 'ends_at as endsAt', 'status', 'source', 'notes')
        .orderBy([{ column: 'starts_at' }, { column: 'id' }]).limit(q.limit).offset(q.offset));
      res.json({ items, from: from.toISOString(), to: to.toISOString(), limit: q.limit, offset: q.offset });
    },
  }),
];
