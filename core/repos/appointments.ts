import type { BuiltinCalendarData, BusyInterval } from '../sdk/index.js';
import type { TenantScope } from './tenant-scope.js';

/**
 * The appointments table as the built-in calendar sees it (the table *is* that calendar). Bookings core makes
 * itself go through core/scheduling; this is the calendar contract's door to the same rows, under the same
 * exclusion constraint.
 */
export function createAppointmentRepository(scope: TenantScope): BuiltinCalendarData {
  return {
    async busy(o) {
      const rows = await scope((trx) => {
        const q = trx('appointments')
          .whereNot('status', 'cancelled')
          .where('starts_at', '<', o.to)
          .where('ends_at', '>', o.from)
          .where('starts_at', '>', o.startedAfter)
          .orderBy('starts_at')
          .select('resource_id', 'starts_at', 'ends_at');
        if (o.resourceIds) q.whereIn('resource_id', o.resourceIds);
        return q as Promise<{ resource_id: string; starts_at: Date; ends_at: Date }[]>;
      });
      return rows.map((r): BusyInterval => ({ start: r.starts_at.toISOString(), end: r.ends_at.toISOString(), resourceId: r.resource_id }));
    },

    async createOnce(o) {
      return scope(async (trx) => {
        if (o.ownId !== undefined) {
          const own = await trx('appointments').where({ id: o.ownId }).first('id') as { id: string } | undefined;
          if (own) return own.id;
        }
        const prior = await trx('appointments').where({ idempotency_key: o.idempotencyKey }).first('id') as { id: string } | undefined;
        if (prior) return prior.id;
        const a = o.prepare();
        const [row] = await trx('appointments').insert({
          customer_id: a.customerId, customer_name: a.customerName, customer_phone: a.customerPhone,
          resource_id: a.resourceId, service_type: a.serviceType, starts_at: a.start, ends_at: a.end,
          source: 'calendar', notes: a.notes, idempotency_key: o.idempotencyKey,
        }).returning('id') as { id: string }[];
        // Internal invariant (returning always yields the row); the plugin maps any throw to a PluginError.
        if (!row) throw new Error('insert returned no row');
        return row.id;
      });
    },

    async move(o) {
      return scope((trx) => trx('appointments').where({ id: o.id }).whereNot('status', 'cancelled').update({
        starts_at: o.start, ends_at: o.end, resource_id: o.resourceId, updated_at: trx.fn.now(),
      }));
    },

    async cancel(o) {
      await scope((trx) => trx('appointments').where({ id: o.id, status: 'booked' }).update({
        status: 'cancelled', cancel_reason: o.reason, updated_at: trx.fn.now(),
      }));
    },

    async ping() {
      await scope((trx) => trx('appointments').first('id'));
    },
  };
}
