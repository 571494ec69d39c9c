import { API_VERSION, definePlugin } from '../../core/sdk/index.js';
import { builtinCalendarData, createBuiltinCalendar } from './calendar.js';

/** calendar-builtin has no options: bookings live in the tenant's own appointments table. */
export type BuiltinCalendarSettings = Record<string, never>;

export default definePlugin<'calendar', BuiltinCalendarSettings>({
  id: 'calendar-builtin',
  kind: 'calendar',
  version: '1.0.0',
  apiVersion: API_VERSION,
  description: 'Bookable bays and advisors in the dealership\'s own ServiceLane database; the appointments table is the calendar.',
  settingsSchema: { type: 'object', additionalProperties: false, required: [] },
  credentialsSchema: null,
  // `builtin`: core already reads these rows, so it neither asks for busy time nor queues a sync.
  capabilities: { busy: true, write: true, perResource: true, builtin: true },
  async testConnection(ctx) {
    try {
      await builtinCalendarData(ctx).ping();
      return { ok: true };
    } catch (e) {
      ctx.logger.warn({ err: (e as Error).message }, 'calendar-builtin test connection failed');
      return { ok: false, detail: 'tenant database unreachable' };
    }
  },
  create: (ctx) => createBuiltinCalendar(ctx),
});
